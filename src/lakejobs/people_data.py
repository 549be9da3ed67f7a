"""Synthetic, noisy "people" master data with ground truth, for entity-resolution tests.

`generate_people(n)` invents `n` persons and writes 1 to 4 staging records for each
(about 45% one, 30% two, 17% three, 8% four), spread over three source systems: "signup" (a web
sign-up form), "crm" (sales back office) and "support" (help-desk tickets). The result holds the
records and the truth: record_id -> person id ("P000123"). Nothing here knows how a matcher works;
the aim is to look like what these systems hold in real life.

The population
    First names (about 160, both genders, UK/US/European) and surnames (about 220) are drawn
    with Zipf-like weights, so common names ("James Smith") belong to several distinct people,
    often in the same city (London takes over a quarter of the population). About 3% of single
    persons are explicit namesakes: same first name, last name and city as an earlier person.
    About 4% carry a double surname ("Smith-Jones"), some have accents ("José", "Zoë",
    "Müller") or apostrophes ("O'Brien"). Birth dates lie in 1940-2008. Every person has a
    unique UK mobile number, a unique e-mail address and a unique national-insurance-like id.

Households (the hardest confounders)
    About 12% of persons live in households of 2 to 4: same last name, address, postcode and
    city, different first names and birth dates. 40% of households share an e-mail address and
    40% share a phone number (each member uses the shared one with probability 0.75). A head of
    household may have a partner (65%) and children born 20-35 years later; 15% of
    second children are twins of the first (same birth date), and 12% of households have a
    junior with the parent's first name (John Smith Sr/Jr).

Noise, drawn independently for every record (a record may get several)
    names       typo in first or last name (insert/delete/substitute/transpose, keyboard
                neighbours) 10%; nickname instead of the first name 8% (only names that have
                one); first/last swapped 1%; accents dropped 35% of the time they could be
                ("Jose", "Mueller"); double surname written with a space or only one part 30%;
                apostrophe dropped or typographic 25%; case as typed (lower, UPPER, Title) and
                stray whitespace 4%, with per-source habits.
    birth date  missing ~10% (more in support); day and month swapped 4% when the day is <= 12;
                one-digit typo in the year 2%.
    e-mail      missing ~15% (rare in signup, frequent in support); the person's second address
                10%; case changes 13%; surrounding whitespace 3%; a one-character typo 1%.
    phone       missing ~20%; always the person's (or household's) number, in varied formats
                ("+44 7700 900123", "07700900123", "(0)7700-900 123", ...): stripping non-digits
                and a leading "44" or "0" always gives the same ten digits.
    address     missing ~10% (then the city is kept 40% of the time); a move before a later
                record 15% (65% within the same city), kept by that person's later records;
                abbreviations ("Rd"), commas, the flat written differently or left out, case and
                spacing; postcode spacing and case (missing alone 1%); city case, aliases
                ("Newcastle") or missing alone 3%.
    government  present on ~30% of records (45% of crm, 20% of the others), always the
    id          person's own value, sometimes spaced ("AB 12 34 56 C") or in lower case.
    updated_at  uniform within a year after `start`; a person's moves follow that order.

Records are shuffled and numbered per source ("crm-000001"), so ids reveal nothing. The output
depends only on the seed: one `random.Random(seed)` drives everything.
"""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Generic, TypeVar

T = TypeVar("T")

RECORD_KEYS = (
    "record_id", "source_system", "first_name", "last_name", "birth_date", "email", "phone",
    "address_line", "postcode", "city", "government_id", "updated_at",
)

# ---------------------------------------------------------------- noise rates (per record)
TYPO = 0.10
NICKNAME = 0.08
NAME_SWAP = 0.01
NAME_WHITESPACE = 0.04
ACCENT_DROP = 0.35
DOUBLE_SURNAME_VARIANT = 0.30
APOSTROPHE_VARIANT = 0.25
DAY_MONTH_SWAP = 0.04
YEAR_TYPO = 0.02
SECOND_EMAIL = 0.10
EMAIL_CASE = 0.13
EMAIL_WHITESPACE = 0.03
EMAIL_TYPO = 0.01
MOVE = 0.15
MOVE_SAME_CITY = 0.65
GOV_ID_SPACED = 0.12
GOV_ID_LOWER = 0.04

# ---------------------------------------------------------------- population rates
RECORDS_PER_PERSON = ((1, 45), (2, 30), (3, 17), (4, 8))
HOUSEHOLD_SHARE = 0.12
HOUSEHOLD_EMAIL = 0.40
HOUSEHOLD_PHONE = 0.40
USES_HOUSEHOLD_CONTACT = 0.75
PARTNER = 0.65
TWINS = 0.15
JUNIOR = 0.12
NAMESAKE = 0.03
DOUBLE_SURNAME = 0.04
FLAT = 0.18
BIRTH_FIRST, BIRTH_LAST = date(1940, 1, 1), date(2008, 12, 31)


class _Weighted(Generic[T]):
    """Items with weights; `pick` is one bisect on cumulative weights."""

    __slots__ = ("cum", "items", "total")

    def __init__(self, pairs: list[tuple[T, float]] | tuple[tuple[T, float], ...]) -> None:
        self.items = [item for item, _ in pairs]
        self.cum: list[float] = []
        running = 0.0
        for _, weight in pairs:
            running += weight
            self.cum.append(running)
        self.total = running

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect(self.cum, rng.random() * self.total)]


def _zipf(items: list[str], exponent: float) -> _Weighted[str]:
    """Rank-weighted: the i-th item has weight 1 / i**exponent (lists are ordered by rank)."""
    return _Weighted([(item, 1.0 / (rank + 1) ** exponent) for rank, item in enumerate(items)])


# ---------------------------------------------------------------- names
MALE_NAMES = [
    "James", "John", "David", "Michael", "Robert", "William", "Thomas", "Richard", "Daniel",
    "Christopher", "Paul", "Mark", "Andrew", "Peter", "Matthew", "Joseph", "Steven", "George",
    "Jonathan", "Alexander", "Benjamin", "Samuel", "Edward", "Charles", "Anthony", "Stephen",
    "Oliver", "Jack", "Harry", "Henry", "Nicholas", "Patrick", "Timothy", "Simon", "Adam", "Luke",
    "Ryan", "Liam", "Noah", "Ethan", "Lucas", "Nathan", "Kevin", "Brian", "Gary", "Martin",
    "Philip", "Frederick", "Lewis", "Callum", "Connor", "Ian", "Neil", "Keith", "Graham",
    "Raymond", "Francis", "Gregory", "Kenneth", "Ronald", "Douglas", "Stuart", "Mohammed",
    "Ahmed", "Ali", "Raj", "Arjun", "Dominic", "Vincent", "Leo", "Oscar", "Theo", "Aidan",
    "Carlos", "Luca", "Marco", "Pierre", "Hans", "Lars", "Piotr", "José", "François", "Jürgen",
    "Björn", "Seán",
]
FEMALE_NAMES = [
    "Mary", "Elizabeth", "Sarah", "Emma", "Jennifer", "Patricia", "Susan", "Margaret",
    "Catherine", "Katherine", "Jessica", "Emily", "Olivia", "Sophie", "Charlotte", "Hannah",
    "Laura", "Rebecca", "Rachel", "Lucy", "Amy", "Amelia", "Grace", "Chloe", "Ella", "Isabella",
    "Victoria", "Alexandra", "Samantha", "Nicola", "Helen", "Karen", "Linda", "Barbara",
    "Deborah", "Jacqueline", "Christine", "Julie", "Claire", "Michelle", "Joanne", "Louise",
    "Kelly", "Lisa", "Anne", "Jane", "Dorothy", "Frances", "Caroline", "Abigail", "Megan",
    "Lauren", "Natalie", "Danielle", "Jasmine", "Priya", "Aisha", "Fatima", "Anna", "Sofia",
    "Giulia", "Ingrid", "Siobhan", "Aoife", "Niamh", "Freya", "Isla", "Ava", "Mia", "Poppy",
    "Ruby", "Florence", "Harriet", "Eleanor", "Penelope", "Judith", "Theresa", "Josephine",
    "Christina", "Zoë", "Chloë", "Renée", "Inés", "María", "Sinéad",
]
SURNAMES = [
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
    "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
    "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood", "Turner",
    "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore", "Clark", "Lee", "King", "Baker",
    "Harrison", "Morgan", "Allen", "James", "Scott", "Phillips", "Watson", "Davis", "Parker",
    "Price", "Bennett", "Young", "Griffiths", "Mitchell", "Kelly", "Cook", "Carter",
    "Richardson", "Bailey", "Collins", "Bell", "Shaw", "Murphy", "Miller", "Cox", "Richards",
    "Khan", "Marshall", "Anderson", "Simpson", "Ellis", "Adams", "Singh", "Begum", "Wilkinson",
    "Foster", "Chapman", "Powell", "Webb", "Rogers", "Gray", "Mason", "Ali", "Hunt", "Hussain",
    "Campbell", "Matthews", "Owen", "Palmer", "Holmes", "Mills", "Barnes", "Knight", "Lloyd",
    "Butler", "Russell", "Barker", "Fisher", "Stevens", "Jenkins", "Murray", "Dixon", "Harvey",
    "Graham", "Pearson", "Ahmed", "Fletcher", "Walsh", "Kaur", "Gibson", "Howard", "Andrews",
    "Stewart", "Elliott", "Reynolds", "Saunders", "Payne", "Fox", "Ford", "Pearce", "Day",
    "Brooks", "West", "Lawrence", "Cole", "Atkinson", "Bradley", "Spencer", "Gill", "Dawson",
    "Ball", "Burton", "O'Brien", "Watts", "Rose", "Booth", "Perry", "Ryan", "Grant", "Wells",
    "Armstrong", "Francis", "Rees", "Hayes", "Hart", "Hudson", "Newman", "Barrett", "Webster",
    "Hunter", "Gregory", "Carr", "Lowe", "Page", "Marsh", "Riley", "Dunn", "Woods", "Parsons",
    "Berry", "Stone", "Reid", "Holland", "Hawkins", "Harding", "Porter", "Robertson", "Newton",
    "Oliver", "Reed", "Kennedy", "Williamson", "Bird", "Gardner", "Shah", "Dean", "Lane",
    "Cooke", "Bates", "Henderson", "Parry", "Burgess", "Bishop", "Walton", "Burns", "Nicholson",
    "Shepherd", "Ross", "Cross", "Long", "Freeman", "Warren", "Hamilton", "Byrne", "Sutton",
    "McDonald", "O'Connor", "O'Neill", "McCarthy", "MacLeod", "O'Sullivan", "D'Souza",
    "Fernandes", "Silva", "Kowalski", "Nowak", "Rossi", "Jansen", "de Vries", "van der Berg",
    "Nielsen", "Larsen", "Dubois", "Müller", "Schröder", "García", "Fernández", "López",
    "Núñez", "Lefèvre", "Gonçalves", "Jäger", "Brontë",
]

NICKNAMES: dict[str, tuple[str, ...]] = {
    "Robert": ("Bob", "Rob", "Bobby", "Robbie"), "William": ("Bill", "Will", "Billy"),
    "James": ("Jim", "Jimmy", "Jamie"), "John": ("Johnny", "Jack"), "Michael": ("Mike", "Mick"),
    "Richard": ("Dick", "Rick", "Rich", "Ricky"), "Thomas": ("Tom", "Tommy"),
    "David": ("Dave", "Davy"), "Daniel": ("Dan", "Danny"), "Christopher": ("Chris", "Kit"),
    "Andrew": ("Andy", "Drew"), "Peter": ("Pete",), "Matthew": ("Matt",),
    "Joseph": ("Joe", "Joey"), "Steven": ("Steve", "Stephen"), "Stephen": ("Steve", "Steven"),
    "Jonathan": ("Jon", "Jonny"), "Alexander": ("Alex", "Sandy", "Xander"),
    "Benjamin": ("Ben", "Benny"), "Samuel": ("Sam", "Sammy"),
    "Edward": ("Ed", "Eddie", "Ted", "Ned"), "Charles": ("Charlie", "Chuck", "Chas"),
    "Anthony": ("Tony", "Ant"), "Nicholas": ("Nick", "Nicky"), "Patrick": ("Pat", "Paddy"),
    "Timothy": ("Tim", "Timmy"), "Henry": ("Harry", "Hal"), "Frederick": ("Fred", "Freddie"),
    "Kenneth": ("Ken", "Kenny"), "Ronald": ("Ron", "Ronnie"), "Douglas": ("Doug", "Dougie"),
    "Gregory": ("Greg",), "Philip": ("Phil",), "Raymond": ("Ray",), "Francis": ("Frank",),
    "Vincent": ("Vince", "Vinnie"), "Dominic": ("Dom",), "Nathan": ("Nate", "Nat"),
    "Mohammed": ("Mo", "Muhammad", "Mohamed"), "Oliver": ("Ollie",), "Frances": ("Fran",),
    "Elizabeth": ("Liz", "Beth", "Betty", "Lizzie", "Eliza"),
    "Katherine": ("Kate", "Kathy", "Katie"), "Catherine": ("Cathy", "Kate", "Cat"),
    "Margaret": ("Maggie", "Peggy", "Meg", "Madge"), "Jennifer": ("Jen", "Jenny"),
    "Patricia": ("Pat", "Trish", "Patty"), "Susan": ("Sue", "Susie"),
    "Jessica": ("Jess", "Jessie"), "Rebecca": ("Becky", "Becca"), "Victoria": ("Vicky", "Tori"),
    "Alexandra": ("Alex", "Lexi", "Sasha"), "Samantha": ("Sam", "Sammy"),
    "Nicola": ("Nicky", "Nikki"), "Deborah": ("Debbie", "Deb"), "Jacqueline": ("Jackie",),
    "Christine": ("Chris", "Chrissie"), "Christina": ("Tina", "Chris"),
    "Abigail": ("Abby", "Gail"), "Dorothy": ("Dot", "Dolly"), "Josephine": ("Jo", "Josie"),
    "Theresa": ("Tess", "Terri"), "Judith": ("Judy", "Jude"), "Eleanor": ("Ellie", "Nell"),
    "Penelope": ("Penny",), "Harriet": ("Hattie",), "Florence": ("Flo", "Florrie"),
    "Isabella": ("Bella", "Izzy"), "Amelia": ("Millie", "Amy"), "Charlotte": ("Lottie",),
    "Olivia": ("Liv", "Livvy"), "Emily": ("Em", "Emmy"), "Mary": ("Molly", "Polly"),
    "Caroline": ("Carrie", "Caz"), "Danielle": ("Dani",), "Natalie": ("Nat",),
    "Rachel": ("Rach",), "Jasmine": ("Jaz",),
}

ASCII_FOLD = str.maketrans(
    "áàâäãåçéèêëíìîïñóòôöõøúùûüýÿÁÀÂÄÃÅÇÉÈÊËÍÌÎÏÑÓÒÔÖÕØÚÙÛÜÝ",
    "aaaaaaceeeeiiiinoooooouuuuyyAAAAAACEEEEIIIINOOOOOOUUUUY",
)
GERMAN_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})

KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, str]:
    """Keys next to each letter on a QWERTY keyboard (same row, and the rows above and below)."""
    neighbours = {}
    for row_index, row in enumerate(KEYBOARD_ROWS):
        for col, key in enumerate(row):
            near = row[max(0, col - 1):col] + row[col + 1:col + 2]
            for other in (row_index - 1, row_index + 1):
                if 0 <= other < len(KEYBOARD_ROWS):
                    near += KEYBOARD_ROWS[other][max(0, col - 1):col + 1]
            neighbours[key] = near
    return neighbours


NEIGHBOURS = _keyboard_neighbours()

# ---------------------------------------------------------------- places
CITIES: list[tuple[str, float, tuple[tuple[str, int, int], ...]]] = [
    ("London", 28, (("E", 1, 18), ("N", 1, 22), ("NW", 1, 11), ("SE", 1, 28), ("SW", 1, 20),
                    ("W", 1, 14), ("EC", 1, 4), ("WC", 1, 2))),
    ("Birmingham", 7, (("B", 1, 48),)), ("Manchester", 7, (("M", 1, 46),)),
    ("Leeds", 5, (("LS", 1, 29),)), ("Glasgow", 5, (("G", 1, 84),)),
    ("Liverpool", 4, (("L", 1, 40),)), ("Bristol", 4, (("BS", 1, 41),)),
    ("Sheffield", 4, (("S", 1, 36),)), ("Edinburgh", 4, (("EH", 1, 17),)),
    ("Cardiff", 3, (("CF", 3, 24),)), ("Leicester", 3, (("LE", 1, 9),)),
    ("Nottingham", 3, (("NG", 1, 16),)), ("Newcastle upon Tyne", 3, (("NE", 1, 15),)),
    ("Brighton", 3, (("BN", 1, 3),)), ("Southampton", 2.5, (("SO", 14, 19),)),
    ("Belfast", 2.5, (("BT", 1, 17),)), ("Reading", 2, (("RG", 1, 6),)),
    ("Oxford", 2, (("OX", 1, 4),)), ("Cambridge", 2, (("CB", 1, 5),)),
    ("York", 2, (("YO", 1, 32),)), ("Coventry", 2, (("CV", 1, 6),)),
    ("Bradford", 2, (("BD", 1, 15),)),
]
CITY_TABLE = _Weighted([(name, weight) for name, weight, _ in CITIES])
POSTCODE_AREAS = {name: areas for name, _, areas in CITIES}
CITY_ALIASES = {
    "Newcastle upon Tyne": ("Newcastle", "Newcastle-upon-Tyne"),
    "Brighton": ("Brighton and Hove", "Brighton & Hove"), "London": ("Greater London",),
}
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

STREETS = [
    "Station", "High", "Church", "Park", "Victoria", "Green", "Manor", "Queens", "Kings", "Mill",
    "Grange", "Chapel", "Windsor", "York", "Albert", "New", "School", "North", "South", "West",
    "London", "Springfield", "Highfield", "Willow", "Oak", "Elm", "Cedar", "Beech", "Ash",
    "Orchard", "Meadow", "Riverside", "Bridge", "Castle", "Market", "Mount Pleasant", "Stanley",
    "Richmond", "Cromwell", "Nelson", "Clarence", "Grosvenor", "Cambridge", "Stafford",
    "Marlborough", "Devonshire", "Alexandra", "Lime", "Hawthorn", "Poplar", "Holly",
    "St John's", "St Mary's", "Sandringham", "Hillside", "Broadway", "Rectory", "Farm",
]
STREET_KINDS = _Weighted([
    ("Road", 30), ("Street", 20), ("Lane", 10), ("Avenue", 10), ("Close", 7), ("Drive", 6),
    ("Way", 4), ("Gardens", 4), ("Crescent", 3), ("Place", 2), ("Grove", 2), ("Terrace", 2),
    ("Court", 1),
])
STREET_ABBREVIATIONS = {
    "Road": "Rd", "Street": "St", "Lane": "Ln", "Avenue": "Ave", "Close": "Cl", "Drive": "Dr",
    "Gardens": "Gdns", "Crescent": "Cres", "Place": "Pl", "Grove": "Gr", "Terrace": "Terr",
    "Court": "Ct",
}

# ---------------------------------------------------------------- e-mail
EMAIL_DOMAINS = _Weighted([
    ("gmail.com", 30), ("hotmail.co.uk", 12), ("outlook.com", 10), ("yahoo.co.uk", 8),
    ("icloud.com", 8), ("btinternet.com", 5), ("hotmail.com", 5), ("live.co.uk", 4),
    ("yahoo.com", 4), ("sky.com", 3), ("aol.com", 2), ("protonmail.com", 2),
    ("googlemail.com", 2), ("virginmedia.com", 2), ("me.com", 2),
])
EMPLOYERS = [
    "acme", "northwind", "contoso", "globex", "initech", "hooli", "umbrella", "wayne-ent",
    "stark", "tyrell", "cyberdyne", "brightside", "blueharbour", "kestrel", "oakfield",
]
EMAIL_PATTERNS = _Weighted([
    ("{f}.{l}", 30), ("{f}{l}", 15), ("{i}{l}", 12), ("{i}.{l}", 8), ("{f}_{l}", 5),
    ("{f}.{l}{yy}", 8), ("{f}{l}{n}", 7), ("{l}.{f}", 4), ("{f}{yy}", 5), ("{l}{i}", 3),
    ("{f}.{l}{yyyy}", 3),
])
HOUSEHOLD_PATTERNS = ("the{l}s", "{l}family", "{l}.family", "{l}household", "{a}and{b}",
                      "{a}.{b}.{l}")

# ---------------------------------------------------------------- phones and ids


def _phone_formats(d: str) -> tuple[str, ...]:
    """Ways to write the mobile 07xxx xxxxxx; `d` is the ten digits after the leading 0."""
    return (
        f"+44 {d[:4]} {d[4:]}", f"+44{d}", f"0{d}", f"0{d[:4]} {d[4:]}",
        f"0{d[:4]} {d[4:7]} {d[7:]}", f"(0){d[:4]}-{d[4:7]} {d[7:]}", f"44 {d[:4]} {d[4:]}",
        f"(0{d[:4]}) {d[4:]}", f"0{d[:4]}-{d[4:]}", f"+44 ({d[:4]}) {d[4:7]} {d[7:]}",
    )


NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"


# ---------------------------------------------------------------- source systems
@dataclass(frozen=True, slots=True)
class _Source:
    name: str
    missing_birth: float
    missing_email: float
    missing_phone: float
    missing_address: float
    government_id: float
    name_case: _Weighted[str]
    phone_format: _Weighted[int]


SOURCES = _Weighted([
    (_Source("signup", 0.06, 0.02, 0.25, 0.12, 0.20,
             _Weighted([("as_is", 70), ("lower", 18), ("upper", 4), ("title", 8)]),
             _Weighted(list(zip(range(10), (8, 10, 35, 20, 8, 2, 5, 3, 7, 2), strict=True)))),
     0.35),
    (_Source("crm", 0.08, 0.20, 0.15, 0.04, 0.45,
             _Weighted([("as_is", 85), ("lower", 3), ("upper", 7), ("title", 5)]),
             _Weighted(list(zip(range(10), (25, 5, 10, 25, 15, 4, 2, 6, 4, 4), strict=True)))),
     0.40),
    (_Source("support", 0.18, 0.25, 0.22, 0.17, 0.20,
             _Weighted([("as_is", 70), ("lower", 12), ("upper", 10), ("title", 8)]),
             _Weighted(list(zip(range(10), (12, 6, 20, 20, 12, 10, 6, 6, 6, 2), strict=True)))),
     0.25),
])
RECORD_COUNTS = _Weighted(RECORDS_PER_PERSON)
FIRST_NAMES = {False: _zipf(MALE_NAMES, 0.6), True: _zipf(FEMALE_NAMES, 0.6)}
SURNAME_TABLE = _zipf(SURNAMES, 0.6)


# ---------------------------------------------------------------- public API
@dataclass(frozen=True)
class PeopleDataset:
    """Staging rows (dicts with `RECORD_KEYS`) and the truth: record_id -> person id."""

    records: list[dict]
    truth: dict[str, str]


def generate_people(persons: int, *, seed: int = 7,
                    start: datetime = datetime(2026, 1, 1)) -> PeopleDataset:
    """`persons` people with 1-4 noisy records each; deterministic for `seed` (see module doc)."""
    rng = random.Random(seed)
    population = _Population(rng)
    rows: list[tuple[str, dict]] = []
    for person in population.build(persons):
        rows.extend((person.pid, record) for record in _records(population, person, start))
    rng.shuffle(rows)
    counters: dict[str, int] = {}
    truth: dict[str, str] = {}
    for pid, record in rows:
        source = record["source_system"]
        counters[source] = counters.get(source, 0) + 1
        record["record_id"] = f"{source}-{counters[source]:06d}"
        truth[record["record_id"]] = pid
    return PeopleDataset(records=[record for _, record in rows], truth=truth)


# ---------------------------------------------------------------- the population
@dataclass(frozen=True, slots=True)
class _Address:
    flat: int | None
    number: int
    street: str
    kind: str
    postcode: str
    city: str


@dataclass(slots=True)
class _Person:
    pid: str
    first: str
    last: str
    female: bool
    birth: date
    email: str
    phone: str
    address: _Address
    gov_id: str
    second_email: str | None = None


class _Population:
    """Invents persons and households; keeps e-mails, phones and ids unique."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.emails: set[str] = set()  # membership only: never iterated
        self.phones: set[str] = set()
        self.gov_ids: set[str] = set()
        self.singles: list[_Person] = []

    def build(self, persons: int) -> list[_Person]:
        rng = self.rng
        people: list[_Person] = []
        target = round(persons * HOUSEHOLD_SHARE)
        while len(people) < target and persons - len(people) >= 2:
            people.extend(self.household(min(rng.randint(2, 4), persons - len(people))))
        while len(people) < persons:
            people.append(self.single())
        rng.shuffle(people)
        for number, person in enumerate(people, start=1):
            person.pid = f"P{number:06d}"
        return people

    # ---- one person
    def single(self) -> _Person:
        rng = self.rng
        if self.singles and rng.random() < NAMESAKE:
            model = self.singles[rng.randrange(len(self.singles))]
            first, last, female, city = model.first, model.last, model.female, model.address.city
        else:
            female = rng.random() < 0.5
            first, last, city = FIRST_NAMES[female].pick(rng), self.surname(), CITY_TABLE.pick(rng)
        birth = _random_date(rng, BIRTH_FIRST, BIRTH_LAST)
        person = _Person("", first, last, female, birth, self.email(first, last, birth),
                         self.phone(), self.address(city), self.gov_id())
        self.singles.append(person)
        return person

    def surname(self) -> str:
        last = SURNAME_TABLE.pick(self.rng)
        if self.rng.random() < DOUBLE_SURNAME:
            other = SURNAME_TABLE.pick(self.rng)
            if other != last and " " not in last + other:
                return f"{last}-{other}"
        return last

    # ---- households
    def household(self, size: int) -> list[_Person]:
        rng = self.rng
        last, address = self.surname(), self.address(CITY_TABLE.pick(rng))
        members = _household_members(rng, size)
        firsts = [first for first, _, _ in members]
        shared_email = (self.household_email(last, firsts) if rng.random() < HOUSEHOLD_EMAIL
                        else None)
        shared_phone = self.phone() if rng.random() < HOUSEHOLD_PHONE else None
        people = []
        for first, female, birth in members:
            email = self.email(first, last, birth)
            if shared_email and rng.random() < USES_HOUSEHOLD_CONTACT:
                email = shared_email
            phone = shared_phone if shared_phone and rng.random() < USES_HOUSEHOLD_CONTACT else None
            people.append(_Person("", first, last, female, birth, email, phone or self.phone(),
                                  address, self.gov_id()))
        return people

    def household_email(self, last: str, firsts: list[str]) -> str:
        pattern = HOUSEHOLD_PATTERNS[self.rng.randrange(len(HOUSEHOLD_PATTERNS))]
        local = pattern.format(l=_slug(last), a=_slug(firsts[0]), b=_slug(firsts[1]))
        return self.unique_email(local, EMAIL_DOMAINS.pick(self.rng))

    # ---- identifiers and contacts
    def email(self, first: str, last: str, birth: date) -> str:
        rng = self.rng
        given, family = _slug(first), _slug(last)
        local = EMAIL_PATTERNS.pick(rng).format(
            f=given, l=family, i=given[:1], yy=f"{birth.year % 100:02d}", yyyy=birth.year,
            n=rng.randint(1, 999))
        return self.unique_email(local, EMAIL_DOMAINS.pick(rng))

    def second_email(self, person: _Person) -> str:
        rng = self.rng
        if rng.random() < 0.5:
            employer = EMPLOYERS[rng.randrange(len(EMPLOYERS))]
            work = f"{_slug(person.first)}.{_slug(person.last)}"
            return self.unique_email(work, f"{employer}.co.uk")
        return self.email(person.first, person.last, person.birth)

    def unique_email(self, local: str, domain: str) -> str:
        email = f"{local}@{domain}"
        while email in self.emails:
            email = f"{local}{self.rng.randint(1, 9999)}@{domain}"
        self.emails.add(email)
        return email

    def phone(self) -> str:
        rng = self.rng
        while True:
            digits = f"7{'1345789'[rng.randrange(7)]}{rng.randrange(100_000_000):08d}"
            if digits not in self.phones:
                self.phones.add(digits)
                return digits

    def gov_id(self) -> str:
        rng = self.rng
        while True:
            nino = (NINO_FIRST[rng.randrange(20)] + NINO_SECOND[rng.randrange(19)]
                    + f"{rng.randrange(1_000_000):06d}" + "ABCD"[rng.randrange(4)])
            if nino not in self.gov_ids:
                self.gov_ids.add(nino)
                return nino

    def address(self, city: str) -> _Address:
        return _new_address(self.rng, city)

    def with_second_email(self, person: _Person) -> str:
        if person.second_email is None:
            person.second_email = self.second_email(person)
        return person.second_email


def _new_address(rng: random.Random, city: str) -> _Address:
    areas = POSTCODE_AREAS[city]
    area, low, high = areas[rng.randrange(len(areas))]
    postcode = (f"{area}{rng.randint(low, high)} {rng.randrange(10)}"
                f"{INWARD_LETTERS[rng.randrange(20)]}{INWARD_LETTERS[rng.randrange(20)]}")
    flat = rng.randint(1, 40) if rng.random() < FLAT else None
    return _Address(flat, rng.randint(1, 220), STREETS[rng.randrange(len(STREETS))],
                    STREET_KINDS.pick(rng), postcode, city)


def _moved(rng: random.Random, current: _Address) -> _Address:
    same_city = rng.random() < MOVE_SAME_CITY
    return _new_address(rng, current.city if same_city else CITY_TABLE.pick(rng))


def _household_members(rng: random.Random, size: int) -> list[tuple[str, bool, date]]:
    """(first name, female, birth date) of a head, maybe a partner, and children."""
    head_female = rng.random() < 0.5
    head_first = FIRST_NAMES[head_female].pick(rng)
    head_birth = _random_date(rng, BIRTH_FIRST, date(1985, 12, 31))
    members = [(head_first, head_female, head_birth)]
    if size >= 2 and rng.random() < PARTNER:
        female = (not head_female) if rng.random() < 0.9 else head_female
        year = min(max(head_birth.year + rng.randint(-6, 6), 1940), 1988)
        members.append((_new_first(rng, female, members), female, _random_in_year(rng, year)))
    children: list[tuple[str, bool, date]] = []
    while len(members) + len(children) < size:
        if not children and rng.random() < JUNIOR:  # John Smith Jr
            child_female, first = head_female, head_first
        else:
            child_female = rng.random() < 0.5
            first = _new_first(rng, child_female, members + children)
        if len(children) == 1 and rng.random() < TWINS:
            birth = children[0][2]
        else:
            year = rng.randint(head_birth.year + 20, min(head_birth.year + 35, 2008))
            birth = _random_in_year(rng, year)
        children.append((first, child_female, birth))
    return members + children


def _new_first(rng: random.Random, female: bool, taken: list[tuple[str, bool, date]]) -> str:
    names = [first for first, _, _ in taken]
    first = FIRST_NAMES[female].pick(rng)
    while first in names:
        first = FIRST_NAMES[female].pick(rng)
    return first


def _random_date(rng: random.Random, first: date, last: date) -> date:
    return date.fromordinal(rng.randint(first.toordinal(), last.toordinal()))


def _random_in_year(rng: random.Random, year: int) -> date:
    return _random_date(rng, date(year, 1, 1), date(year, 12, 31))


def _slug(name: str) -> str:
    """E-mail-safe lower-case letters of a name: "O'Brien-Núñez" -> "obriennunez"."""
    return "".join(c for c in name.translate(ASCII_FOLD).lower() if c.isalnum())


# ---------------------------------------------------------------- records
def _records(population: _Population, person: _Person, start: datetime) -> list[dict]:
    """The person's records in time order; a move changes the address of later records."""
    rng = population.rng
    offsets = sorted(rng.randrange(365 * 86_400) for _ in range(RECORD_COUNTS.pick(rng)))
    address = person.address
    records = []
    for index, offset in enumerate(offsets):
        if index and rng.random() < MOVE:
            address = _moved(rng, address)
        source = SOURCES.pick(rng)
        email = person.email
        if rng.random() < SECOND_EMAIL:
            email = population.with_second_email(person)
        first, last = _names(rng, person, source)
        record = {
            "record_id": "", "source_system": source.name, "first_name": first,
            "last_name": last, "birth_date": _birth_date(rng, person.birth, source),
            "email": None if rng.random() < source.missing_email else _email(rng, email),
            "phone": (None if rng.random() < source.missing_phone
                      else _phone_formats(person.phone)[source.phone_format.pick(rng)]),
        }
        record.update(_address_fields(rng, address, source))
        record["government_id"] = (_gov_id(rng, person.gov_id)
                                   if rng.random() < source.government_id else None)
        record["updated_at"] = (start + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")
        records.append(record)
    return records


# ---- names
def _names(rng: random.Random, person: _Person, source: _Source) -> tuple[str, str]:
    first, last = person.first, person.last
    nicknames = NICKNAMES.get(first)
    if nicknames and rng.random() < NICKNAME:
        first = nicknames[rng.randrange(len(nicknames))]
    first, last = _spelling(rng, first), _surname_variant(rng, _spelling(rng, last))
    if rng.random() < TYPO:
        if rng.random() < 0.5:
            first = _typo(rng, first)
        else:
            last = _typo(rng, last)
    style = source.name_case.pick(rng)
    first, last = _case(first, style), _case(last, style)
    if rng.random() < NAME_WHITESPACE:
        if rng.random() < 0.5:
            first = _whitespace(rng, first)
        else:
            last = _whitespace(rng, last)
    if rng.random() < NAME_SWAP:
        first, last = last, first
    return first, last


def _spelling(rng: random.Random, name: str) -> str:
    """Accents dropped on keyboards without them: "José" -> "Jose", "Müller" -> "Mueller"."""
    if name.isascii() or rng.random() >= ACCENT_DROP:
        return name
    if rng.random() < 0.3:
        name = name.translate(GERMAN_FOLD)
    return name.translate(ASCII_FOLD)


def _surname_variant(rng: random.Random, last: str) -> str:
    if "-" in last and rng.random() < DOUBLE_SURNAME_VARIANT:
        left, right = last.split("-", 1)
        return (f"{left} {right}", left, right)[_pick_index(rng, (0.5, 0.8))]
    if "'" in last and rng.random() < APOSTROPHE_VARIANT:
        return last.replace("'", ("", " ", "\u2019")[_pick_index(rng, (0.5, 0.7))])
    return last


def _pick_index(rng: random.Random, cumulative: tuple[float, ...]) -> int:
    return bisect(cumulative, rng.random())


def _typo(rng: random.Random, text: str) -> str:
    """One keyboard slip after the first character: a neighbour key, an extra key, a missed key
    or two keys swapped."""
    if len(text) < 3:
        return text
    i = rng.randrange(1, len(text))
    char = text[i]
    near = NEIGHBOURS.get(char.lower(), "")
    operation = rng.randrange(4)
    if operation == 0 and near:
        return text[:i] + near[rng.randrange(len(near))] + text[i + 1:]
    if operation == 1:
        extra = near[rng.randrange(len(near))] if near and rng.random() < 0.5 else char
        return text[:i] + extra + text[i:]
    if operation == 3 and i < len(text) - 1:
        return text[:i] + text[i + 1] + char + text[i + 2:]
    return text[:i] + text[i + 1:]


def _case(name: str, style: str) -> str:
    if style == "lower":
        return name.lower()
    if style == "upper":
        return name.upper()
    if style == "title":
        return name.title()
    return name


def _whitespace(rng: random.Random, text: str) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return " " + text
    if kind == 1:
        return text + " "
    return text.replace(" ", "  ") if " " in text else text + "  "


# ---- birth date
def _birth_date(rng: random.Random, birth: date, source: _Source) -> str | None:
    if rng.random() < source.missing_birth:
        return None
    year, month, day = birth.year, birth.month, birth.day
    if day <= 12 and day != month and rng.random() < DAY_MONTH_SWAP:
        month, day = day, month
    if rng.random() < YEAR_TYPO:
        year = _year_typo(rng, year)
    try:
        return date(year, month, day).isoformat()
    except ValueError:  # 29 February after a year typo
        return date(year, month, 28).isoformat()


def _year_typo(rng: random.Random, year: int) -> int:
    """One wrong digit among the last two (1987 -> 1982 or 1957); never after 2008."""
    while True:
        if rng.random() < 0.7:
            typo = year - year % 10 + rng.randrange(10)
        else:
            typo = year - year % 100 + rng.randrange(10) * 10 + year % 10
        if typo != year and 1900 <= typo <= BIRTH_LAST.year:
            return typo


# ---- e-mail
def _email(rng: random.Random, email: str) -> str:
    if rng.random() < EMAIL_TYPO:
        local, domain = email.split("@")
        email = f"{_typo(rng, local)}@{domain}"
    if rng.random() < EMAIL_CASE:
        email = _email_case(rng, email)
    if rng.random() < EMAIL_WHITESPACE:
        email = (" " + email, email + " ", " " + email + " ")[rng.randrange(3)]
    return email


def _email_case(rng: random.Random, email: str) -> str:
    local, domain = email.split("@")
    kind = rng.randrange(4)
    if kind == 0:
        return email.upper()
    if kind == 1:  # John.Smith@gmail.com
        return ".".join(part.capitalize() for part in local.split(".")) + "@" + domain
    if kind == 2:
        return f"{local}@{domain.capitalize()}"
    return local.capitalize() + "@" + domain.capitalize()


# ---- address
def _address_fields(rng: random.Random, address: _Address, source: _Source) -> dict:
    if rng.random() < source.missing_address:
        city = _city(rng, address.city) if rng.random() < 0.4 else None
        return {"address_line": None, "postcode": None, "city": city}
    return {"address_line": _address_line(rng, address), "postcode": _postcode(rng, address),
            "city": _city(rng, address.city)}


def _address_line(rng: random.Random, address: _Address) -> str:
    kind = address.kind
    if rng.random() < 0.22 and kind in STREET_ABBREVIATIONS:
        kind = STREET_ABBREVIATIONS[kind] + ("." if rng.random() < 0.2 else "")
    separator = ", " if rng.random() < 0.07 else " "
    line = f"{address.number}{separator}{address.street} {kind}"
    if address.flat is not None:
        flat = (f"Flat {address.flat}, ", f"Flat {address.flat} ", f"Apartment {address.flat}, ",
                f"flat {address.flat}, ", "")[_pick_index(rng, (0.6, 0.72, 0.8, 0.88))]
        line = flat + line
    style = rng.random()
    if style < 0.08:
        line = line.lower()
    elif style < 0.12:
        line = line.upper()
    if rng.random() < 0.03:
        line = _whitespace(rng, line)
    return line


def _postcode(rng: random.Random, address: _Address) -> str | None:
    postcode = address.postcode
    variant = _pick_index(rng, (0.70, 0.82, 0.90, 0.94, 0.97, 0.99))
    if variant == 1:
        return postcode.replace(" ", "")
    if variant == 2:
        return postcode.lower()
    if variant == 3:
        return postcode.replace(" ", "").lower()
    if variant == 4:
        return postcode.replace(" ", "  ")
    if variant == 5:
        return postcode + " "
    if variant == 6:
        return None
    return postcode


def _city(rng: random.Random, city: str) -> str | None:
    aliases = CITY_ALIASES.get(city)
    if aliases and rng.random() < 0.08:
        city = aliases[rng.randrange(len(aliases))]
    style = rng.random()
    if style < 0.08:
        return city.lower()
    if style < 0.13:
        return city.upper()
    if style < 0.16:
        return None
    return city


# ---- government id
def _gov_id(rng: random.Random, nino: str) -> str:
    style = rng.random()
    if style < GOV_ID_SPACED:
        return f"{nino[:2]} {nino[2:4]} {nino[4:6]} {nino[6:8]} {nino[8]}"
    if style < GOV_ID_SPACED + GOV_ID_LOWER:
        return nino.lower()
    return nino
