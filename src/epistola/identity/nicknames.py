"""Given names that are the same name: formal forms, diminutives and their spellings in English, Russian
and Polish (Bill = William, Саша = Александр = Olek, Kasia = Katarzyna = Катя = Kate).

The tables are the matcher's own, written from general knowledge of the three languages; nothing here is
derived from the demo data generator (its accuracy figure would then measure a matcher tuned to it).
Each line is one name across the languages; a diminutive shared by several names (Sasha, Alex, Zhenya)
sits on each of their lines, and the gender comparison tells Aleksandr from Aleksandra. Entries are
written as people write them, in Latin or Cyrillic; they are compared through the hub's transliteration
key, so Александр, Aleksandr and Alexander meet.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler
from unidecode import unidecode

from epistola.hub.names import translit_key

_NOT_LETTERS = re.compile(r"[^a-z]")
_SPELLING = 0.93  # Jaro-Winkler similarity above which an unknown name is read as a misspelt known one

MALE = """
Aleksandr Alexander Aleksander Alexandr Александр Alex Alec Alek Sandy Xander Sasha Саша Sashka Сашка Sanya Саня
  Shura Шура Olek Oleś Alik Алик Sasza
Aleksei Alexei Alexey Aleksey Aleksiej Алексей Alex Alek Alyosha Алёша Lyosha Лёша Lyokha Лёха Olek
Anatolii Anatoly Anatol Анатолий Tolya Толя Tolik Толик
Andrei Andrey Andrew Andrzej Андрей Andy Andryusha Андрюша Andriusha Drew Jędrek Andrzejek Andrejka
Anton Antoni Anthony Антон Tony Antek Antosha Антоша Tosha Тоша Toni
Arkadii Arkady Arkadiusz Аркадий Arkasha Аркаша Arek
Arsenii Arseny Арсений Senya Сеня Arseniy
Artem Artyom Артём Артем Tyoma Тёма Tema Artemii Artemy
Arthur Artur Артур Art Artie Arturek
Bartholomew Bartłomiej Bartosz Варфоломей Bart Bartek
Benjamin Beniamin Veniamin Вениамин Ben Benny Benji Venya Веня Beniek
Bogdan Богдан Bodya Бодя Bodek Bogdanek Bogusław Bogus
Boris Борис Borya Боря Borys Borka
Charles Karol Карл Charlie Chuck Chas Charley Karolek Carl Karl
Christopher Krzysztof Kristofer Christoph Chris Kit Krzyś Krzysiek Kris
Christian Krystian Кристиан Chris Krystek
Daniel Daniil Danila Даниил Данила Дэниел Dan Danny Danya Даня Danek Danik
David Dawid Давид Dave Davey Davy Dawidek Dodik
Denis Dennis Денис Denny Denya Деня Deniska Дениска
Dmitrii Dmitry Dmitri Dimitri Dmitriy Дмитрий Dima Дима Mitya Митя Dimka Димка Dimitr
Dominic Dominik Доминик Dom Dominiczek
Edward Eduard Эдуард Ed Eddie Eddy Ted Teddy Ned Edek Edik Эдик Edziu
Egor Yegor Igor? Егор Egorka Егорка Zhora
Eugene Evgenii Evgeny Yevgeny Evgeniy Eugeniusz Евгений Gene Zhenya Женя Zhenia Zheka Жека Genek Gienek
Fedor Fyodor Theodore Teodor Фёдор Федор Fedya Федя Ted Teddy Theo Tedek Fiodor
Filipp Philip Phillip Filip Филипп Phil Pip Filya Филя Filipek
Frank Francis Franciszek Франциск Frankie Fran Franek Franio
Gennadii Gennady Геннадий Gena Гена Genka Генка
Georgii Georgy George Jerzy Георгий Жора Zhora Georgie Jurek Yegor Gosha Гоша Geo
Gleb Глеб Glebushka
Gregory Grzegorz Grigorii Grigory Григорий Greg Grisha Гриша Grzesiek Grześ Gregor
Henry Henryk Genrikh Генрих Hank Harry Hal Heniek Henio Henri
Igor Игорь Igorek Igoryok Игорёк Igoresha
Ilya Ilia Elijah Eliasz Илья Ilyusha Илюша Ilyukha Eli Ilja
Ivan John Jan Ян Иван Vanya Ваня Vanechka Ванечка Jack Johnny Jon Janek Jaś Jasio Ian Johann Hans Ivanko
James Jim Jimmy Jamie Jimbo Jakub
Jacob Jake Jakub Kuba Kubuś Yakov Яков Yasha Яша Jakob Iakov Jakubek
Joseph Józef Iosif Osip Иосиф Осип Joe Joey Józek Józio Josef Jozef
Kazimierz Казимир Kazimir Kazik Kazio
Kirill Cyril Cyryl Кирилл Kirya Киря Kiryusha Кирюша Kiril
Konstantin Constantine Konstanty Константин Kostya Костя Kostek Kostia Kostik Con
Lawrence Laurence Wawrzyniec Лаврентий Lavrentii Larry Laurie Wawrzek Lavrik
Leonid Леонид Lyonya Лёня Lenya Леня Lenia Leon
Lev Leo Leon Лев Lyova Лёва Leva Lew Levushka
Lucas Luke Łukasz Luka Лука Lukasz Łukaszek Luka
Maksim Maxim Maksym Maximilian Maksymilian Максим Max Maks Maksik Maksimka Maxie
Mark Marc Marek Марк Marcus Markus Mareczek Marik
Martin Marcin Мартин Marty Marcinek Martyn
Matthew Mateusz Matvei Matvey Матвей Matt Matty Mat Motya Мотя Matvejka Mateuszek Matthias
Michael Mikhail Michał Михаил Mike Mikey Mick Mickey Misha Миша Mishka Мишка Michałek Misiek Mitch
Nicholas Nikolai Nikolay Mikołaj Николай Nick Nicky Nico Kolya Коля Kolia Mikołajek Nikola Kolka
Oleg Олег Olezhka Олежка Olezha
Patrick Patryk Патрик Pat Paddy Patryczek
Paul Pavel Paweł Павел Pasha Паша Pashka Пашка Pawełek Paulie Pawel Pavlik Павлик
Peter Petr Pyotr Piotr Пётр Петр Pete Petya Петя Piotrek Piotruś Petka Peterek
Richard Ryszard Ричард Rick Dick Rich Richie Ricky Rysiek Rysio Dickie
Robert Роберт Bob Bobby Rob Robbie Robby Bert Robek Robcio
Roman Роман Roma Рома Romek Romka Ромка Romcio
Ruslan Руслан Rusik Русик
Samuel Samuil Самуил Sam Sammy Samek
Sebastian Себастьян Seba Sebek Sebuś Bastian
Semyon Semen Simon Szymon Семён Семен Senya Сеня Syoma Сёма Szymek Simek
Sergei Sergey Sergiusz Serge Сергей Seryozha Серёжа Serezha Серега Seryoga Серёга Serg Sergiy
Stanislav Stanisław Станислав Stas Стас Stasik Стасик Staś Staszek Stasiek Stan Stanley
Stephen Steven Stefan Stepan Szczepan Степан Steve Stevie Styopa Стёпа Stepa Stefek Stephan Steph
Thomas Tomasz Foma Фома Tom Tommy Tomek Tomcio Thom
Timothy Tymoteusz Timofei Timofey Тимофей Tim Timmy Tima Тима Tymek Timosha Тимоша
Vadim Вадим Vadik Вадик Vadya
Valentin Walenty Валентин Valya Валя Valentine Walek
Valerii Valery Walery Валерий Valera Валера Valerik
Vasilii Vasily Vasiliy Wasyl Bazyli Basil Василий Vasya Вася Vaska Васька Vasilek
Viacheslav Vyacheslav Wiaczesław Вячеслав Slava Слава Slavik Славик Vyacheslav
Victor Viktor Wiktor Виктор Vic Vitya Витя Vitek Wiktorek Vitia
Vitalii Vitaly Witalij Виталий Vitalik Виталик Vitya Витя Vitaliy
Vladimir Włodzimierz Владимир Volodya Володя Vova Вова Vovka Вовка Vlad Włodek Volodia Wlodek
Vladislav Władysław Владислав Vlad Влад Vladik Владик Władek Slava Vladek
Vsevolod Всеволод Seva Сева Sevka
William Wilhelm Вильгельм Bill Billy Will Willy Willie Liam Wiliam Wilek Vilya Wil
Wojciech Войцех Wojtek Wojtuś Voitek
Yaroslav Jarosław Ярослав Yarik Ярик Slava Слава Jarek Jaro Yaroslaw
Yurii Yuri Yury Jurij Юрий Yura Юра Yurik Юрик Yurka Юрка Jura
Zachary Zachariasz Zakhar Захар Zach Zack Zak Zakharka Zachariah Zachar
Zbigniew Збигнев Zbyszek Zbysio Zbych
Arkadiusz Arek Areczek
Dariusz Darek Dariuszek Darius
Jarosław Jarek
Maciej Maciek Maciuś Macius
Mariusz Mariuszek Marian Marianek
Mirosław Mirek Mireczek Miroslav Мирослав
Przemysław Przemek Przemo
Radosław Radek Radzio Radoslav Радослав
Rafał Rafael Raphael Рафаэль Rafałek Rafi Rafa
Tadeusz Tadek Tadzio Thaddeus Фаддей
Wiesław Wiesiek Wiesio
Witold Witek Witus Vitold
Zdzisław Zdzisiek Zdzich
Czesław Czesiek Czesio Cheslav Чеслав
Leszek Lech Leszczek
Ryszard Rysiek
Kacper Kasper Jasper Kacperek Kasparek Каспер
Kamil Камиль Kamilek
Krystian Krystek
Hubert Hubercik Hubi
Jacek Jacuś Jack Hyacinth
Janusz Januszek
Piotr Piotrek
Sylwester Sylvester Silvester Sylwek Sly
Eldar Эльдар Eldarik
Timur Тимур Timurchik
Rustam Рустам Rustamchik
Marat Марат
Ilnur Ильнур
Ildar Ильдар
Kevin Kev
Kenneth Ken Kenny
Joshua Josh
Jonathan Jon Johnny Jonny Nathan
Nathan Nathaniel Nate Nat
Jeffrey Geoffrey Jeff Geoff
Gerald Jerry Gerry Gerard Gerhard
Jeremy Jeremiah Jerry Jeremi
Douglas Doug Dougie
Donald Don Donnie Donny
Ronald Ron Ronnie Ronny
Raymond Ray Rajmund Ramon
Randall Randolph Randy Randi
Russell Russ Rusty
Terence Terrence Terry
Walter Walt Wally Walenty? Walther
Albert Al Bert Albie Albercik Альберт Alik
Alan Allan Allen Al Alek
Benedict Benedykt Ben Benek Венедикт
Bruce Brucie
Gabriel Gabe Gabryś Gavriil Гавриил Gavrik
Louis Lewis Ludwik Людвиг Lou Louie Ludwiś
Vincent Wincenty Vince Vinny Wicek Винсент
Frederick Fryderyk Фридрих Fred Freddie Freddy Fredek Fritz
Leonard Leonardo Leo Len Lenny Leonek
Gary Garry Gareth
Scott Scotty
Brandon Bran
Tyler Ty
Aaron Aron Арон Ronnie
Adam Адам Adaś Adamek Adas
Adrian Адриан Adi Adrianek
Emil Эмиль Emilek Emilio
Igor Igorek
Oskar Oscar Оскар Oskarek Ossie
Konrad Conrad Konradek Connie
Norbert Norbi Bert
Zygmunt Sigmund Зигмунд Zyga Zygi
Ihor Igor
"""

FEMALE = """
Aleksandra Alexandra Alexandria Александра Sasha Саша Sashka Shura Шура Sandra Sandy Alex Lexi Ola Olka Oleńka
  Ala Sanya Саня Alesya Sasza
Alina Алина Alinka Alya Аля
Alice Alicja Alisa Алиса Allie Ala Alka Alicia Alis
Alla Алла Allochka
Alyona Alena Алёна Алена Alyonka Alenka Lena
Anastasia Anastasiya Anastazja Анастасия Nastya Настя Nastia Nastenka Stasia Stacy Stacey Asya Ася Tasia
Angelina Angela Aniela Ангелина Анжела Angie Gelya Геля Lina Anielka Angelika
Anna Ann Anne Hanna Hannah Анна Ania Аня Anya Anka Анька Annie Anita Hania Anusia Nyura Нюра Anyuta Анюта
  Anechka Анечка Nan Nancy Nanette Annushka
Antonina Antoinette Антонина Tonya Тоня Tonia Tosia Toni Antosia Nina
Barbara Varvara Варвара Barb Barbie Babs Basia Baśka Varya Варя Barbra
Catherine Katherine Kathryn Katharine Katarzyna Ekaterina Yekaterina Katerina Екатерина Катерина Kate Katie Katy
  Kathy Cathy Kat Kitty Kasia Kaśka Kasieńka Katya Катя Katia Katyusha Катюша Katrina Kaja Katka Kathleen
Christine Christina Kristina Krystyna Кристина Chris Chrissy Tina Krysia Krystynka Kristi Kristy
Daria Darya Дарья Dasha Даша Dashenka Dasza Darka
Dorothy Dorota Dorothea Доротея Dot Dottie Dolly Dorotka Dora
Diana Diane Диана Di Dianka
Dominika Доминика Domi Dominisia
Elena Yelena Helen Helena Helene Ellen Елена Elena Lena Лена Lenochka Леночка Alena Hela Helenka Nell Nellie
  Ellie Elaine Lenka
Elizabeth Elizaveta Yelizaveta Elżbieta Elisabeth Elisabet Елизавета Liz Lizzie Lizzy Liza Лиза Lisa Beth
  Betty Bess Bessie Eliza Libby Ela Elka Elżunia Betsy Lizaveta Lizka
Emily Emilia Emiliya Эмилия Em Emmy Emilka Emi Millie
Emma Эмма Emmie Emka
Eva Eve Ewa Ева Evie Ewka Ewunia Evochka Evita
Evelyn Evelina Ewelina Эвелина Evie Ewelinka Lina
Evgenia Evgeniya Eugenia Eugenie Eugenia Евгения Zhenya Женя Zhenia Genia Gienia Jenny
Galina Галина Galya Галя Galochka Galka Halina Halinka Hala
Gabriela Gabrielle Габриэла Gabi Gabby Gabrysia Gaby Ela
Inna Инна Innochka
Irina Irena Irene Ирина Ira Ира Irka Ирка Irishka Иришка Irenka Rena Irinka
Isabella Isabel Izabela Izabella Изабелла Bella Iza Izka Isa Izzy Belle
Jennifer Jenny Jen Jenn Jenna Jennie
Jessica Jess Jessie Jessy Jessika
Jasmine Jazmin Jas Jaz Yasmin Ясмина
Brittany Britney Britt
Tiffany Tiff Tiffy
Crystal Krystal Chrissy
Kathleen Kathy Kath Kate
Courtney Court
Lindsay Lindsey Lin
Ariana Arianna Ari
Joanna Joan Johanna Иоанна Asia Joasia Joanie Jo Joasienka Aśka
Jolanta Yolanda Иоланта Jola Jolka Jolcia
Julia Julie Yulia Yuliya Iuliia Юлия Jules Julka Julcia Yulya Юля Yulechka Юлечка Julianna Juliana Julita
Karina Карина Karinka
Karolina Caroline Carolyn Carol Carole Каролина Carrie Karolcia Karolinka Lina
Kinga Кинга Kingusia
Kseniya Ksenia Xenia Kseniia Ксения Ksyusha Ксюша Ksenya Ksiusha Ksenka
Larisa Larissa Лариса Lara Лара Larochka
Lidia Lydia Lidiya Лидия Lida Лида Lidka Lidochka
Lubov Lyubov Любовь Lyuba Люба Lubochka Lubow Luba
Lyudmila Ludmila Людмила Lyuda Люда Mila Мила Milochka Ludmiła Luda
Magdalena Magdalene Madeline Madeleine Магдалена Magda Madzia Magdusia Maddie Maggie Lena
Margaret Margarita Małgorzata Маргарита Maggie Meg Peggy Marge Margie Greta Gosia Małgosia Małgośka Rita Рита
  Margo Maisie
Maria Mary Marie Mariya Мария Marya Marysia Maryla Mania Masha Маша Mashenka Машенька Marusya Маруся Molly
  Polly Mae Mamie Maja Maya Marika Manya Маня Mariam Miriam
Marina Марина Marinka Marisha Мариша
Marta Martha Марфа Marfa Marty Martusia Martha Mattie
Martyna Martina Мартина Martynka Tina
Monika Monica Моника Monia Mona Moni
Nadezhda Nadia Nadya Надежда Надя Nadine Nadzieja Nadyusha Nadka
Natalia Natalya Natalie Nathalie Наталья Наталия Natasha Наташа Nata Ната Natka Natalka Nat Tasha Nata
  Natashka Natasza
Nina Нина Ninochka Ninka
Oksana Оксана Oksanka Ksana
Olesya Олеся Lesya Леся Olesia
Olga Ольга Olya Оля Olia Olenka Оленька Olechka Олечка Ola Olka Olgunia Olgusia Helga
Olivia Oliwia Оливия Liv Livvy Oliwka Olive Livia
Patricia Patrycja Патриция Pat Patty Patsy Trish Tricia Pati Patrysia
Paulina Pauline Paula Полина Polina Pola Polya Поля Paulinka Polinka Polly
Rebecca Rebeka Ревекка Becky Becca Reba
Renata Рената Renia Renatka
Sarah Sara Сара Sally Sadie Sarenka Sarah
Sofia Sophia Sofya Zofia Софья София Sophie Sonya Соня Sonia Zosia Zośka Sonechka Sofi
Stephanie Stefania Стефания Steph Stefcia Stefa Stephy
Susan Zuzanna Suzanne Susanna Сюзанна Sue Susie Suzy Zuzia Zuza Zuzka
Svetlana Светлана Sveta Света Svetik Светик Lana Svetka
Tamara Тамара Toma Тома Tamarka Tammy
Tatiana Tatyana Tatjana Татьяна Tanya Таня Tania Tanechka Танечка Tata Tanka
Teresa Theresa Tereza Тереза Terry Tess Tessa Tereska Reni
Urszula Ursula Урсула Ula Ulka Urszulka
Valentina Walentyna Валентина Valya Валя Valechka Tina Walentynka
Valeria Valeriya Waleria Валерия Lera Лера Valera Lerochka
Vera Wiera Вера Verochka Верочка Vierka
Veronika Veronica Weronika Вероника Nika Ника Wera Weronisia Ronnie Nicky
Victoria Viktoria Wiktoria Виктория Vika Вика Vicky Vicki Tori Wika Wiktorka Vikusya
Yana Jana Яна Yanochka Yanka
Zinaida Зинаида Zina Зина Zinochka
Zoya Zoe Zoja Зоя Zoyka
Agata Agatha Агата Aga Agatka
Agnieszka Agnes Агнесса Aga Agusia Agnisia Nessa
Aneta Anetta Анета Anetka
Beata Beate Беата Beatka Beti
Bożena Bozena Божена Bożenka
Danuta Данута Danka Danusia Dana
Edyta Edith Эдит Edi Edytka
Grażyna Grazyna Grażynka
Iwona Yvonne Ивона Iwonka Iwa
Jadwiga Hedwig Ядвига Jadzia Jadźka
Janina Janine Янина Janka Janinka Jasia Nina
Justyna Justine Justina Иустина Justynka Justi
Kamila Camilla Камила Kamilka Milla
Klaudia Claudia Клавдия Klava Клава Klaudynka
Sylwia Sylvia Silvia Сильвия Sylwiunia Sylka
Wanda Ванда Wandzia
Amelia Амелия Amelka Milly
Sabina Сабина Sabinka
Żaneta Zhanna Жанна Janette Zhannochka
Ulyana Ульяна Ulya Уля Juliana
Taisia Taisiya Таисия Taya Тая Tasya
Raisa Раиса Raya Рая
Elvira Эльвира Elya Эля
Milana Милана Mila
Arina Арина Arinka Irina?
Zlata Злата Zlatka
Kira Кира Kirochka
Polina Полина Polya
Vasilisa Василиса Vasya Вася Lisa
Ulyana Uliana
Karen Karin Karyn
Linda Lindy Lin
Nancy Nan
Sandra Sandy Sandi
Ashley Ash
Kimberly Kimberley Kim Kimmy
Donna Donnie
Michelle Michele Shelly Shelley Micki Michalina Misia
Amanda Mandy Manda
Melissa Mel Missy Lissa
Deborah Debra Debbie Deb Debby
Laura Laurie Lori Laurel Laura Lora
Sharon Shari
Cynthia Cindy Cyndi
Shirley Shirl
Brenda Bren
Pamela Pam Pammy
Nicole Nikola Nicola Nikki Nicky Nika Nikoletta
Samantha Sam Sammy Sammie
Heather Heath
Janet Jan Jannet Janette
Virginia Ginny Ginger Virgie
Kelly Kel
Lauren Laurie Lori
Judith Judy Jude Judyta Юдифь
Megan Meghan Meg
Cheryl Cher Sheryl
Andrea Andrzejka Andie Andy Andreea
Frances Franciszka Fran Frannie Franka Franny
Jacqueline Jackie Jacky Żaklina
Gloria Glorie
Jean Jeanne Jeannie Janine Jeanette
Doris Dori
Madison Maddie Maddy
Grace Gracie Grażyna
Abigail Abby Abbie Gail
Denise Deni
Beverly Beverley Bev
Amber Ambie
Danielle Daniela Даниэла Dani Dany Danka Daniella
Brittany Britney Britt Brit
Rose Rosie Róża Роза Rosa Roza
Charlotte Шарлотта Charlie Lottie Lotte Karolina
Lily Lilly Lillian Lilian Lilia Лилия Лиля Lilya Lila Lili
Chloe Chloé Хлоя Chlo
Ruth Ruthie Rut
Joyce Joy
Marilyn Marylin Lyn
Kayla Kay
Hannah Hanna Hania
Maja Maya Майя Majka
Lena Lenka
Natalie Nat
Weronika Wera
Wiktoria Wika
Ewelina Ewa
Malwina Malvina Мальвина Malwinka
Klara Clara Claire Клара Klarka
Alicja Ala
Aniela Nela
Helena Hela
Izabela Iza
"""


@lru_cache(maxsize=262144)
def given_key(value: str | None) -> str | None:
    """The hub's transliteration key, except that an initial Ya/Yu/Yo (Я, Ю, J) stays apart from the bare
    vowel: Jan is not Ann and Yana is not Anna, while Yana, Jana and Яна still meet.

    An initial Ye is folded to E as unidecode writes Е (Елена, Elena and Yelena meet).
    """
    if not value:
        return None
    letters = _NOT_LETTERS.sub("", unidecode(value).lower())
    if len(letters) > 1 and letters[0] in "yji":
        if letters[1] in "auo" or letters[:2] == "je":  # Я, Ю, J as in Jessica and Jerzy
            rest = translit_key(letters[1:])
            return f"j{rest}" if rest else None
        if letters[1] == "e":  # Ye as in Yelena: unidecode writes Е as E
            return translit_key(letters[1:])
    return translit_key(letters)


@cache
def _nearest_known(key: str) -> str | None:
    """The known given name a misspelt one is closest to, when it is clearly one: very similar, or one
    keystroke away in a name of five letters or more (Srgei -> Sergei)."""
    if len(key) < 4:
        return None
    for name, similarity, _ in process.extract(key, _KNOWN, scorer=JaroWinkler.similarity, limit=5, score_cutoff=0.8):
        if similarity >= _SPELLING or (len(key) >= 5 and DamerauLevenshtein.distance(key, name) <= 1):
            return str(name)
    return None


def _parse(text: str) -> list[tuple[str, frozenset[str]]]:
    """One group per line (continuation lines start with spaces); a trailing '?' marks an uncertain
    form that is left out rather than guessed."""
    lines: list[list[str]] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        words = [w for w in raw.split() if not w.endswith("?")]
        if raw.startswith(" ") and lines:
            lines[-1].extend(words)
        else:
            lines.append(words)
    groups = []
    for words in lines:
        keys = [k for k in (given_key(w) for w in words) if k]
        if keys:
            groups.append((keys[0], frozenset(keys)))
    return groups


def _index() -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """name key -> ids of every group it belongs to (a group is named by the key of its first form, its
    gender and its line, so Aleksandr and Aleksandra stay two names); key -> 'm', 'f' or 'x' (both)."""
    groups: dict[str, set[str]] = {}
    gender: dict[str, str] = {}
    for suffix, text in (("m", MALE), ("f", FEMALE)):
        for number, (first, members) in enumerate(_parse(text)):
            gid = f"{first}:{suffix}{number}"
            for key in members:
                groups.setdefault(key, set()).add(gid)
                gender[key] = suffix if gender.get(key, suffix) == suffix else "x"
    return {k: tuple(sorted(v)) for k, v in groups.items()}, gender


_GROUPS, _GENDER = _index()
_KNOWN = sorted(_GROUPS)


@lru_cache(maxsize=262144)
def name_groups(key: str | None) -> tuple[str, ...]:
    """Every name a given-name key may stand for ('sasha' -> Aleksandr and Aleksandra); a misspelt
    known name stands for what the known name stands for ('srgei' -> Sergei)."""
    if not key:
        return ()
    found = _GROUPS.get(key)
    if found is not None:
        return found
    near = _nearest_known(key)
    return _GROUPS[near] if near else ()


@lru_cache(maxsize=262144)
def primary_group(key: str | None) -> str | None:
    """One stable group id per key, for blocking: the key's own group when it is unambiguous, else the
    key itself (an ambiguous diminutive blocks with exact spellings; the other rules still find it)."""
    groups = name_groups(key)
    if len(groups) == 1:
        return groups[0]
    return key


@cache
def is_given_name(key: str | None) -> bool:
    """Whether a key is a known given name (used to notice 'Family Given' written in one field)."""
    return bool(key) and key in _GROUPS


def name_gender(key: str | None) -> str | None:
    """'m' or 'f' when the given name says it, None when unknown or used for both."""
    if not key:
        return None
    g = _GENDER.get(key)
    return g if g in ("m", "f") else None


def same_name(a: str | None, b: str | None) -> bool:
    """Whether two given-name keys can be the same name (identical, or forms of one name)."""
    if not a or not b:
        return False
    return a == b or bool(set(name_groups(a)) & set(name_groups(b)))
