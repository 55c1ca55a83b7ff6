"""English (US) tables: names in rough frequency order (the order sets the Zipf weights), streets,
cities with ZIP prefixes and area codes, nicknames and e-mail domains.

Name lists are frequency-ordered for adults in the US; a few diminutives (Billy, Bobby, Joe) are also
given names in their own right, as they are in real registers.
"""

from __future__ import annotations

MALE = """
James Robert John Michael David William Richard Joseph Thomas Christopher Charles Daniel Matthew Anthony
Mark Donald Steven Andrew Paul Joshua Kenneth Kevin Brian George Timothy Ronald Jason Edward Jeffrey Ryan
Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel Gregory Alexander
Patrick Frank Raymond Jack Dennis Jerry Tyler Aaron Jose Adam Nathan Henry Zachary Douglas Peter Kyle
Noah Ethan Jeremy Walter Christian Keith Roger Terry Austin Sean Gerald Carl Harold Dylan Arthur Lawrence
Jordan Jesse Bryan Billy Bruce Gabriel Joe Logan Alan Juan Albert Willie Elijah Wayne Randy Vincent
Mason Roy Ralph Bobby Russell Bradley Philip Eugene Theodore Frederick Luis Carlos Leonard Stanley
""".split()

FEMALE = """
Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty Sandra
Margaret Ashley Kimberly Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie Dorothy Rebecca
Sharon Laura Cynthia Amy Kathleen Angela Shirley Brenda Emma Anna Pamela Nicole Samantha Katherine
Christine Helen Debra Rachel Carolyn Janet Maria Catherine Heather Diane Olivia Julie Joyce Victoria
Ruth Virginia Lauren Kelly Christina Joan Evelyn Judith Andrea Hannah Megan Cheryl Jacqueline Martha
Madison Teresa Gloria Sara Janice Ann Kathryn Abigail Sophia Frances Jean Alice Judy Isabella Julia
Grace Amber Denise Danielle Marilyn Beverly Charlotte Natalie Theresa Diana Brittany Doris Kayla
Alexis Lori Marie Rose Peggy Alexandra Susie Valerie
""".split()

SURNAMES = """
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez
Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker
Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards
Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey
Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza
Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry
Russell Sullivan Bell Coleman Butler Henderson Barnes Fisher Vasquez Simmons Romero Jordan Patterson
Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis
Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods
Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Burns Crawford Olson Simpson Porter
Hunter Gordon Silva Shaw Snyder Mason Dixon O'Brien McCarthy Weingarten Schwartz Kowalski Novak
""".split()

# "[direction] name kind"; a bare name ("Broadway") has no kind.
STREETS = """
W Pratt St|N Charles St|Main St|Oak St|Maple Ave|Park Ave|Elm St|Washington St|Lake St|Hill St|Pine St|
Cedar St|2nd St|3rd St|1st Ave|5th Ave|Broadway|Sunset Blvd|Lincoln Ave|Jefferson St|Madison Ave|
Franklin St|Church St|Spring St|River Rd|Mill Rd|Highland Ave|Center St|Market St|Union St|Walnut St|
Chestnut St|Cherry Ln|Willow Dr|Meadow Ln|Forest Ave|Sunset Dr|Ridge Rd|Valley Rd|Lakeview Dr|
Hillcrest Dr|Jackson St|Adams St|Wilson Ave|E Colfax Ave|S Congress Ave|Peachtree St|Michigan Ave|
State St|Grand Ave|Central Ave|College Ave|Court St|Water St|Bay St|Ocean Ave|Harbor Dr|Kings Hwy|
Prospect Pl|Greenwood Ave|Magnolia Ter|Sycamore Ct|Elmwood Pkwy|E Fayette St|S Main St|N Broad St
""".replace("\n", "").split("|")

STREET_KINDS = {
    "St": "Street",
    "Ave": "Avenue",
    "Rd": "Road",
    "Blvd": "Boulevard",
    "Dr": "Drive",
    "Ln": "Lane",
    "Ct": "Court",
    "Pl": "Place",
    "Ter": "Terrace",
    "Pkwy": "Parkway",
    "Hwy": "Highway",
    "Way": "Way",
}
DIRECTIONS = {"N": "North", "S": "South", "E": "East", "W": "West"}

# code, city, state, ZIP prefixes, time zone, lat, lon, population (100k), area codes
CITIES = [
    (
        "NYC",
        "New York",
        "NY",
        "100 101 102 103 104 112",
        "America/New_York",
        40.71,
        -74.01,
        83,
        "212 718 917 646 347",
    ),
    ("LAX", "Los Angeles", "CA", "900 910 913", "America/Los_Angeles", 34.05, -118.24, 39, "213 310 323 818"),
    ("CHI", "Chicago", "IL", "606", "America/Chicago", 41.88, -87.63, 27, "312 773 872"),
    ("HOU", "Houston", "TX", "770", "America/Chicago", 29.76, -95.37, 23, "713 281 832"),
    ("PHX", "Phoenix", "AZ", "850", "America/Phoenix", 33.45, -112.07, 16, "602 480 623"),
    ("PHL", "Philadelphia", "PA", "191", "America/New_York", 39.95, -75.17, 16, "215 267"),
    ("SAT", "San Antonio", "TX", "782", "America/Chicago", 29.42, -98.49, 15, "210"),
    ("SAN", "San Diego", "CA", "921", "America/Los_Angeles", 32.72, -117.16, 14, "619 858"),
    ("DAL", "Dallas", "TX", "752", "America/Chicago", 32.78, -96.80, 13, "214 469 972"),
    ("AUS", "Austin", "TX", "787", "America/Chicago", 30.27, -97.74, 10, "512 737"),
    ("CLT", "Charlotte", "NC", "282", "America/New_York", 35.23, -80.84, 9, "704 980"),
    ("CMH", "Columbus", "OH", "432", "America/New_York", 39.96, -83.00, 9, "614"),
    ("SEA", "Seattle", "WA", "981", "America/Los_Angeles", 47.61, -122.33, 7.5, "206"),
    ("DEN", "Denver", "CO", "802", "America/Denver", 39.74, -104.99, 7.2, "303 720"),
    ("BNA", "Nashville", "TN", "372", "America/Chicago", 36.16, -86.78, 6.9, "615"),
    ("BOS", "Boston", "MA", "021", "America/New_York", 42.36, -71.06, 6.5, "617 857"),
    ("LAS", "Las Vegas", "NV", "891", "America/Los_Angeles", 36.17, -115.14, 6.4, "702"),
    ("PDX", "Portland", "OR", "972", "America/Los_Angeles", 45.52, -122.68, 6.3, "503 971"),
    ("DTW", "Detroit", "MI", "482", "America/Detroit", 42.33, -83.05, 6.3, "313"),
    ("BAL", "Baltimore", "MD", "212", "America/New_York", 39.29, -76.61, 5.8, "410 443"),
    ("ATL", "Atlanta", "GA", "303", "America/New_York", 33.75, -84.39, 5, "404 678 470"),
    ("MIA", "Miami", "FL", "331", "America/New_York", 25.76, -80.19, 4.4, "305 786"),
    ("MSP", "Minneapolis", "MN", "554", "America/Chicago", 44.98, -93.27, 4.3, "612"),
    ("SLC", "Salt Lake City", "UT", "841", "America/Denver", 40.76, -111.89, 2, "801 385"),
    ("HNL", "Honolulu", "HI", "968", "Pacific/Honolulu", 21.31, -157.86, 3.5, "808"),
    ("ANC", "Anchorage", "AK", "995", "America/Anchorage", 61.22, -149.90, 2.9, "907"),
]

CITY_ALIASES = {
    "New York": ("NYC", "New York City", "Brooklyn"),
    "Los Angeles": ("LA",),
    "Philadelphia": ("Philly",),
}

# formal name -> diminutives people actually go by
NICKNAMES = {
    "William": ("Bill", "Will", "Billy"),
    "Robert": ("Bob", "Rob", "Bobby"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "Michael": ("Mike", "Mikey"),
    "Thomas": ("Tom", "Tommy"),
    "Richard": ("Dick", "Rick", "Rich"),
    "Joseph": ("Joe", "Joey"),
    "Charles": ("Charlie", "Chuck"),
    "Christopher": ("Chris",),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Anthony": ("Tony",),
    "Steven": ("Steve",),
    "Stephen": ("Steve",),
    "Andrew": ("Andy", "Drew"),
    "Joshua": ("Josh",),
    "Kenneth": ("Ken", "Kenny"),
    "Edward": ("Ed", "Eddie", "Ted"),
    "Patrick": ("Pat",),
    "Benjamin": ("Ben",),
    "Samuel": ("Sam",),
    "Alexander": ("Alex",),
    "Nicholas": ("Nick",),
    "Jonathan": ("Jon",),
    "Timothy": ("Tim",),
    "Gregory": ("Greg",),
    "Jeffrey": ("Jeff",),
    "Ronald": ("Ron", "Ronnie"),
    "Donald": ("Don", "Donnie"),
    "Gerald": ("Jerry",),
    "Lawrence": ("Larry",),
    "Frederick": ("Fred", "Freddie"),
    "Zachary": ("Zach",),
    "Jacob": ("Jake",),
    "Nathan": ("Nate",),
    "Raymond": ("Ray",),
    "Douglas": ("Doug",),
    "Peter": ("Pete",),
    "Theodore": ("Ted", "Teddy", "Theo"),
    "Gabriel": ("Gabe",),
    "Walter": ("Walt",),
    "Eugene": ("Gene",),
    "Henry": ("Hank",),
    "John": ("Jack", "Johnny"),
    "David": ("Dave",),
    "Leonard": ("Len", "Lenny"),
    "Stanley": ("Stan",),
    "Philip": ("Phil",),
    "Albert": ("Al", "Bert"),
    "Vincent": ("Vince",),
    "Bradley": ("Brad",),
    "Russell": ("Russ",),
    "Katherine": ("Kate", "Katie", "Kathy"),
    "Elizabeth": ("Liz", "Beth", "Betty", "Lizzie"),
    "Jennifer": ("Jenny", "Jen"),
    "Margaret": ("Peggy", "Maggie", "Meg"),
    "Patricia": ("Pat", "Patty", "Trish"),
    "Barbara": ("Barb",),
    "Susan": ("Sue", "Susie"),
    "Jessica": ("Jess",),
    "Deborah": ("Deb", "Debbie"),
    "Debra": ("Deb", "Debbie"),
    "Rebecca": ("Becky",),
    "Cynthia": ("Cindy",),
    "Kimberly": ("Kim",),
    "Christine": ("Chris", "Chrissy"),
    "Christina": ("Tina",),
    "Pamela": ("Pam",),
    "Samantha": ("Sam",),
    "Victoria": ("Vicky", "Tori"),
    "Abigail": ("Abby",),
    "Alexandra": ("Alex", "Lexi"),
    "Catherine": ("Cathy", "Kate"),
    "Kathleen": ("Kathy", "Kath"),
    "Kathryn": ("Kathy", "Kate"),
    "Dorothy": ("Dot", "Dottie"),
    "Judith": ("Judy",),
    "Amanda": ("Mandy",),
    "Stephanie": ("Steph",),
    "Jacqueline": ("Jackie",),
    "Teresa": ("Terry", "Tess"),
    "Theresa": ("Terry", "Tess"),
    "Madison": ("Maddie",),
    "Natalie": ("Nat",),
    "Virginia": ("Ginny",),
    "Angela": ("Angie",),
    "Melissa": ("Missy", "Mel"),
    "Valerie": ("Val",),
    "Frances": ("Fran",),
    "Beverly": ("Bev",),
    "Isabella": ("Bella", "Izzy"),
    "Sophia": ("Sophie",),
    "Carolyn": ("Carrie",),
    "Danielle": ("Dani",),
    "Charlotte": ("Charlie",),
    "Mary": ("Molly", "Polly"),
}

EMAIL_DOMAINS = [
    ("gmail.com", 42),
    ("yahoo.com", 16),
    ("outlook.com", 9),
    ("hotmail.com", 10),
    ("aol.com", 5),
    ("icloud.com", 9),
    ("comcast.net", 5),
    ("att.net", 4),
]
