"""Polish tables: names in rough frequency order, masculine surnames (the -ski/-cki/-dzki ones take a
feminine form, the others such as Nowak do not), streets, cities with postcode prefixes and landline
codes, diminutives and e-mail domains.
"""

from __future__ import annotations

MALE = """
Piotr Krzysztof Andrzej Tomasz Paweł Jan Michał Marcin Jakub Adam Łukasz Marek Grzegorz Mateusz Wojciech
Mariusz Dariusz Zbigniew Jerzy Maciej Rafał Robert Kamil Józef Stanisław Dawid Sebastian Arkadiusz
Szymon Jacek Ryszard Tadeusz Bartosz Przemysław Kacper Artur Roman Filip Patryk Daniel Sławomir Janusz
Henryk Waldemar Kazimierz Damian Mirosław Leszek Zdzisław Karol Edward Bogdan Adrian Hubert Mieczysław
Krystian Czesław Antoni Władysław Zenon Bartłomiej Aleksander Wiesław Marian Igor Konrad Dominik Oskar
Radosław Norbert Witold Zygmunt Emil Eugeniusz Franciszek Wiktor Leon Julian Ignacy Stefan Bolesław
Lech Jarosław Wacław Remigiusz
""".split()

FEMALE = """
Anna Katarzyna Maria Małgorzata Agnieszka Barbara Ewa Krystyna Elżbieta Magdalena Joanna Zofia
Aleksandra Monika Teresa Danuta Natalia Karolina Marta Beata Julia Dorota Halina Janina Jadwiga Alicja
Irena Iwona Grażyna Paulina Justyna Bożena Urszula Jolanta Renata Agata Zuzanna Hanna Helena Wiktoria
Marianna Sylwia Patrycja Izabela Emilia Dominika Martyna Weronika Stanisława Kamila Wanda Genowefa
Lucyna Mirosława Stefania Oliwia Gabriela Ilona Wiesława Edyta Kinga Aneta Klaudia Lena Amelia Maja
Laura Nikola Marzena Bogumiła Jagoda Ada Roksana Bernadeta Żaneta Lidia Eliza Milena Adrianna Daria
Kornelia Ewelina
""".split()

SURNAMES = """
Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Szymański Woźniak Dąbrowski
Kozłowski Jankowski Mazur Wojciechowski Kwiatkowski Krawczyk Kaczmarek Piotrowski Grabowski Zając
Pawłowski Michalski Król Nowakowski Wieczorek Wróbel Jabłoński Wróblewski Majewski Olszewski Jaworski
Stępień Malinowski Górski Dudek Adamczyk Nowicki Pawlak Sikora Walczak Baran Rutkowski Michalak Szewczyk
Ostrowski Tomaszewski Pietrzak Zalewski Marciniak Jasiński Zawadzki Bąk Jakubowski Sadowski Duda
Włodarczyk Wilk Chmielewski Borkowski Sokołowski Szczepański Sawicki Lis Kucharski Kalinowski Mazurek
Wysocki Adamski Kaźmierczak Wasilewski Sobczak Czerwiński Andrzejewski Cieślak Głowacki Zakrzewski
Kołodziej Sikorski Krajewski Gajewski Szymczak Szulc Baranowski Laskowski Brzeziński Makowski
Ziółkowski Przybylski Domański Nowacki Borowski Błaszczyk Chojnacki Ciesielski Mróz Szczepaniak
Wesołowski Górecki Krupa Kaczmarczyk Leszczyński Lipiński Kowalewski Urbański Kozak Kania Mikołajczyk
Czarnecki Sowa Kubiak Witkowski Milewski Kowalik Czajkowski Marczak Wojtowicz Kurek Pająk Wawrzyniak
Grzelak Kubacki Stachowiak Gołębiowski Fijałkowski Bielecki Kędzierski Pietrzyk Rogalski Trojanowski
Banaś Kurowski Orłowski Jędrzejewski Dziedzic Żak Pawlik Leśniak Siwiec Kołodziejczyk Gutowski
Grzybowski Nowik Kwiatek Kalisz Zawisza Dobrzański Polański Żukowski Skowroński Drozd Piątek Kaczor
""".split()

# (kind, name): ul = ulica, al = aleja, pl = plac, os = osiedle
STREETS = [
    tuple(s.split(" ", 1))
    for s in """
ul Marszałkowska|al Jerozolimskie|ul Piłsudskiego|ul Mickiewicza|ul Kościuszki|ul Słowackiego|
ul Sienkiewicza|ul Kopernika|ul Długa|ul Polna|ul Leśna|ul Lipowa|ul Ogrodowa|ul Kwiatowa|ul Szkolna|
ul Słoneczna|ul Krótka|ul Łąkowa|ul Brzozowa|ul Kolejowa|ul Parkowa|ul Miła|ul Wiejska|ul Zielona|
ul Akacjowa|ul Klonowa|ul Jana Pawła II|ul Reymonta|ul Żeromskiego|ul Konopnickiej|ul Prusa|ul Chopina|
ul Moniuszki|ul Narutowicza|ul Traugutta|ul Kilińskiego|ul Piotrkowska|ul Floriańska|ul Grodzka|
ul Świętojańska|ul Dworcowa|ul Warszawska|ul Krakowska|ul Poznańska|ul Gdańska|ul Wrocławska|
ul Lubelska|ul Toruńska|ul Nowy Świat|ul Puławska|ul Grójecka|ul Targowa|al Niepodległości|
al Solidarności|al Ujazdowskie|al Grunwaldzka|al Wojska Polskiego|pl Grunwaldzki|pl Bankowy|
pl Wolności|pl Kościuszki|os Tysiąclecia|os Kościuszkowskie
""".replace("\n", "").split("|")
]
STREET_KINDS = {  # kind -> (abbreviation, full word)
    "ul": ("ul.", "ulica"),
    "al": ("al.", "aleja"),
    "pl": ("pl.", "plac"),
    "os": ("os.", "osiedle"),
}

# code, city, voivodeship, postcode prefixes (digits only), time zone, lat, lon, population (100k),
# landline area codes
CITIES = [
    ("WAW", "Warszawa", "mazowieckie", "00 01 02 03 04", "Europe/Warsaw", 52.23, 21.01, 18, "22"),
    ("KRK", "Kraków", "małopolskie", "30 31", "Europe/Warsaw", 50.06, 19.94, 8, "12"),
    ("LOD", "Łódź", "łódzkie", "90 91 92 93 94", "Europe/Warsaw", 51.76, 19.46, 6.6, "42"),
    ("WRO", "Wrocław", "dolnośląskie", "50 51 52 53 54", "Europe/Warsaw", 51.11, 17.04, 6.4, "71"),
    ("POZ", "Poznań", "wielkopolskie", "60 61", "Europe/Warsaw", 52.41, 16.93, 5.3, "61"),
    ("GDN", "Gdańsk", "pomorskie", "80", "Europe/Warsaw", 54.35, 18.65, 4.7, "58"),
    ("SZZ", "Szczecin", "zachodniopomorskie", "70 71", "Europe/Warsaw", 53.43, 14.55, 3.9, "91"),
    ("BZG", "Bydgoszcz", "kujawsko-pomorskie", "85", "Europe/Warsaw", 53.12, 18.01, 3.3, "52"),
    ("LUZ", "Lublin", "lubelskie", "20", "Europe/Warsaw", 51.25, 22.57, 3.3, "81"),
    ("BIA", "Białystok", "podlaskie", "15", "Europe/Warsaw", 53.13, 23.16, 2.9, "85"),
    ("KTW", "Katowice", "śląskie", "40", "Europe/Warsaw", 50.26, 19.02, 2.8, "32"),
    ("GDY", "Gdynia", "pomorskie", "81", "Europe/Warsaw", 54.52, 18.53, 2.4, "58"),
    ("CZE", "Częstochowa", "śląskie", "422", "Europe/Warsaw", 50.81, 19.12, 2.1, "34"),
    ("RAD", "Radom", "mazowieckie", "266", "Europe/Warsaw", 51.40, 21.15, 2, "48"),
    ("TOR", "Toruń", "kujawsko-pomorskie", "871", "Europe/Warsaw", 53.01, 18.60, 2, "56"),
    ("SOS", "Sosnowiec", "śląskie", "412", "Europe/Warsaw", 50.29, 19.10, 2, "32"),
    ("RZE", "Rzeszów", "podkarpackie", "35", "Europe/Warsaw", 50.04, 22.00, 2, "17"),
    ("KIE", "Kielce", "świętokrzyskie", "25", "Europe/Warsaw", 50.87, 20.63, 1.9, "41"),
    ("GLI", "Gliwice", "śląskie", "441", "Europe/Warsaw", 50.29, 18.67, 1.8, "32"),
    ("OLS", "Olsztyn", "warmińsko-mazurskie", "10", "Europe/Warsaw", 53.78, 20.48, 1.7, "89"),
    ("ZGO", "Zielona Góra", "lubuskie", "65", "Europe/Warsaw", 51.94, 15.51, 1.4, "68"),
    ("OPO", "Opole", "opolskie", "45", "Europe/Warsaw", 50.67, 17.93, 1.3, "77"),
    ("BBI", "Bielsko-Biała", "śląskie", "433", "Europe/Warsaw", 49.82, 19.04, 1.7, "33"),
    ("GOW", "Gorzów Wielkopolski", "lubuskie", "664", "Europe/Warsaw", 52.73, 15.24, 1.2, "95"),
    ("ELB", "Elbląg", "warmińsko-mazurskie", "823", "Europe/Warsaw", 54.16, 19.40, 1.2, "55"),
]

CITY_ALIASES = {"Warszawa": ("Warsaw", "W-wa"), "Kraków": ("Krakow", "Cracow"), "Łódź": ("Lodz",)}

MOBILE_PREFIXES = "50 51 53 57 60 66 69 72 73 78 79 88".split()

NICKNAMES = {
    "Katarzyna": ("Kasia",),
    "Tomasz": ("Tomek",),
    "Małgorzata": ("Gosia", "Małgosia"),
    "Barbara": ("Basia",),
    "Bartłomiej": ("Bartek",),
    "Jakub": ("Kuba",),
    "Aleksandra": ("Ola",),
    "Magdalena": ("Magda",),
    "Piotr": ("Piotrek",),
    "Krzysztof": ("Krzysiek",),
    "Andrzej": ("Jędrek",),
    "Agnieszka": ("Aga",),
    "Joanna": ("Asia",),
    "Anna": ("Ania",),
    "Elżbieta": ("Ela",),
    "Krystyna": ("Krysia",),
    "Zofia": ("Zosia",),
    "Jadwiga": ("Jadzia",),
    "Teresa": ("Tereska",),
    "Aleksander": ("Olek",),
    "Stanisław": ("Staszek",),
    "Władysław": ("Władek",),
    "Józef": ("Józek",),
    "Wojciech": ("Wojtek",),
    "Grzegorz": ("Grzesiek",),
    "Maciej": ("Maciek",),
    "Jan": ("Janek",),
    "Dariusz": ("Darek",),
    "Sławomir": ("Sławek",),
    "Mirosław": ("Mirek",),
    "Zbigniew": ("Zbyszek",),
    "Ryszard": ("Rysiek",),
    "Kazimierz": ("Kazek",),
    "Henryk": ("Heniek",),
    "Jerzy": ("Jurek",),
    "Iwona": ("Iwonka",),
    "Natalia": ("Natka",),
    "Weronika": ("Wera",),
    "Wiktoria": ("Wika",),
    "Julia": ("Julka",),
    "Maria": ("Marysia",),
    "Danuta": ("Danka",),
    "Urszula": ("Ula",),
    "Alicja": ("Ala",),
    "Izabela": ("Iza",),
    "Emilia": ("Emilka",),
    "Paulina": ("Paula",),
    "Michał": ("Michałek",),
    "Mateusz": ("Mati",),
    "Przemysław": ("Przemek",),
    "Radosław": ("Radek",),
    "Jarosław": ("Jarek",),
    "Bogdan": ("Bodek",),
    "Tadeusz": ("Tadek",),
    "Wiesław": ("Wiesiek",),
    "Dorota": ("Dorotka",),
    "Grażyna": ("Grażynka",),
    "Bożena": ("Bożenka",),
    "Halina": ("Hala",),
}

EMAIL_DOMAINS = [
    ("gmail.com", 30),
    ("wp.pl", 22),
    ("onet.pl", 17),
    ("o2.pl", 13),
    ("interia.pl", 10),
    ("op.pl", 5),
    ("tlen.pl", 3),
]
