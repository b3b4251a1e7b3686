"""Word lists for realistic, made-up property-management data.

Real US cities with their states and three-digit ZIP prefixes, so a generated
address is internally consistent. Company and property names are combinations
of common words; none is meant to name a real business.
"""

from __future__ import annotations

# (city, state, first three digits of its ZIP codes)
CITIES: tuple[tuple[str, str, str], ...] = (
    ("Austin", "TX", "787"),
    ("Dallas", "TX", "752"),
    ("Houston", "TX", "770"),
    ("San Antonio", "TX", "782"),
    ("Fort Worth", "TX", "761"),
    ("Phoenix", "AZ", "850"),
    ("Scottsdale", "AZ", "852"),
    ("Tucson", "AZ", "857"),
    ("Denver", "CO", "802"),
    ("Aurora", "CO", "800"),
    ("Atlanta", "GA", "303"),
    ("Savannah", "GA", "314"),
    ("Charlotte", "NC", "282"),
    ("Raleigh", "NC", "276"),
    ("Durham", "NC", "277"),
    ("Nashville", "TN", "372"),
    ("Memphis", "TN", "381"),
    ("Orlando", "FL", "328"),
    ("Tampa", "FL", "336"),
    ("Jacksonville", "FL", "322"),
    ("Miami", "FL", "331"),
    ("Fort Lauderdale", "FL", "333"),
    ("Las Vegas", "NV", "891"),
    ("Henderson", "NV", "890"),
    ("Salt Lake City", "UT", "841"),
    ("Seattle", "WA", "981"),
    ("Tacoma", "WA", "984"),
    ("Portland", "OR", "972"),
    ("Sacramento", "CA", "958"),
    ("San Diego", "CA", "921"),
    ("Los Angeles", "CA", "900"),
    ("Irvine", "CA", "926"),
    ("Oakland", "CA", "946"),
    ("Chicago", "IL", "606"),
    ("Naperville", "IL", "605"),
    ("Indianapolis", "IN", "462"),
    ("Columbus", "OH", "432"),
    ("Cincinnati", "OH", "452"),
    ("Minneapolis", "MN", "554"),
    ("Kansas City", "MO", "641"),
    ("St. Louis", "MO", "631"),
    ("Omaha", "NE", "681"),
    ("Oklahoma City", "OK", "731"),
    ("Albuquerque", "NM", "871"),
    ("Boston", "MA", "021"),
    ("Philadelphia", "PA", "191"),
    ("Pittsburgh", "PA", "152"),
    ("Baltimore", "MD", "212"),
    ("Arlington", "VA", "222"),
    ("Richmond", "VA", "232"),
    ("Washington", "DC", "200"),
    ("Newark", "NJ", "071"),
    ("Brooklyn", "NY", "112"),
    ("Greenville", "SC", "296"),
    ("Charleston", "SC", "294"),
    ("Louisville", "KY", "402"),
    ("Birmingham", "AL", "352"),
    ("Boise", "ID", "837"),
)

STREET_NAMES: tuple[str, ...] = (
    "Maple", "Oak", "Cedar", "Pine", "Elm", "Willow", "Birch", "Magnolia", "Sycamore",
    "Hickory", "Main", "Park", "Lake", "Hill", "River", "Spring", "Sunset", "Highland",
    "Meadow", "Forest", "Washington", "Jefferson", "Lincoln", "Madison", "Franklin",
    "Jackson", "Monroe", "Adams", "Harrison", "Church", "Mill", "Market", "Center",
    "Ridge", "Valley", "Broad", "Grand", "College", "University", "Peachtree",
    "Camelback", "Congress", "Lamar", "Colfax", "Belmont", "Hollywood", "Wilshire",
    "Biscayne", "Riverside", "Summit", "Heritage", "Legacy", "Preston", "Westheimer",
)

STREET_SUFFIXES: tuple[str, ...] = (
    "St", "Ave", "Blvd", "Dr", "Ln", "Rd", "Way", "Pkwy", "Ct", "Pl", "Cir", "Trl",
)

STREET_DIRECTIONS: tuple[str, ...] = ("N", "S", "E", "W", "NE", "NW", "SE", "SW")

COMPANY_FIRST: tuple[str, ...] = (
    "Summit", "Crescent", "Harbor", "Oakwood", "Keystone", "Pinnacle", "Bluestone",
    "Ironwood", "Silverleaf", "Northstar", "Brightview", "Cornerstone", "Redwood",
    "Evergreen", "Granite", "Heritage", "Lakeside", "Meridian", "Prairie", "Sterling",
    "Trinity", "Westbrook", "Willowbend", "Ashford", "Beacon", "Cobalt", "Driftwood",
    "Foxhall", "Greystone", "Hawthorne", "Juniper", "Kingsley", "Landmark", "Monarch",
    "Pembroke", "Quarry", "Riverstone", "Stonegate", "Tidewater", "Vantage",
)

COMPANY_SECOND: tuple[str, ...] = (
    "Residential", "Property Management", "Living", "Communities", "Apartment Group",
    "Realty", "Management Group", "Housing Partners", "Multifamily", "Properties",
    "Real Estate Services", "Asset Management", "Homes",
)

COMPANY_LEGAL: tuple[str, ...] = ("", "", "", " LLC", " Inc.", " LP", ", LLC")

PROPERTY_WORDS: tuple[str, ...] = (
    "Willow Creek", "Stone Ridge", "Cedar Park", "Lakeview", "Riverbend", "Oak Hollow",
    "Pine Valley", "Maple Grove", "Sunset Ridge", "Eagle Pointe", "Fox Run", "Brookstone",
    "Autumn Woods", "Canyon View", "Copper Creek", "Deer Crossing", "Falcon Heights",
    "Garden Gate", "Hidden Lake", "Ivy Hill", "Juniper Springs", "Kensington",
    "Laurel Oaks", "Magnolia Place", "Northgate", "Orchard Hill", "Parkside", "Quail Run",
    "Ravenwood", "Silver Lake", "Timber Ridge", "Union Square", "Vista Del Sol",
    "Waterford", "Windsor Park", "Arbor Glen", "Bay Harbor", "Chestnut Hill",
    "Sterling Heights", "Highland Park", "Main Street", "Midtown", "The Yards",
    "Mill District", "Heritage Square", "Legacy Point", "Preston Hollow", "Terrace Hill",
    "Bluebonnet", "Crestview", "Desert Sage", "Emerald Bay", "Forest Glen", "Grand Oaks",
)

PROPERTY_KINDS: tuple[str, ...] = (
    "Apartments", "Apartment Homes", "Townhomes", "Lofts", "Residences", "Flats",
    "Village", "Commons", "Place", "Terrace", "Gardens", "Crossing", "Station",
    "Landing", "Court", "Manor",
)

PROPERTY_PREFIXES: tuple[str, ...] = ("", "", "", "", "The ", "The Residences at ", "The Lofts at ")

# How a second RDS record of the same building tends to be named.
MEMBER_VARIANTS: tuple[str, ...] = (
    "", "", "", " II", " Phase II", " North", " South", " East", " West", " Annex",
    " (Old)", " - Student Housing", " Senior",
)
