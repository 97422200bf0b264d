"""A synthetic population of tool accounts in the vault's shape, with its ground truth.

Used by ``bench/identity_scale.py`` (tens of thousands of accounts) and by
``tools/identity_labels.py`` (a crowd of namesakes and look-alike logins, so the labelled set
holds the hard negatives a 40-person simulated organisation lacks). Names are drawn from small
pools on purpose: shared surnames, shared first names and full namesakes happen, as they do in
large organisations. Each person gets a GitHub login in one of many conventions, maybe a GitLab
login, a Jira account (opaque id, display name, address sometimes hidden), commit addresses
(work, personal or GitHub noreply); about 2 % of accounts are bots.
"""

from __future__ import annotations

import random

import polars as pl

from flowsync_pipelines.pseudonym import pseudonym

FIRST = [
    "maria",
    "jose",
    "ana",
    "luis",
    "carlos",
    "sofia",
    "lucas",
    "emma",
    "noah",
    "olivia",
    "liam",
    "mia",
    "ethan",
    "ava",
    "james",
    "anna",
    "david",
    "sara",
    "daniel",
    "laura",
    "michael",
    "julia",
    "peter",
    "nina",
    "thomas",
    "elena",
    "jan",
    "eva",
    "paul",
    "lena",
    "mark",
    "kim",
    "alex",
    "sam",
    "chris",
    "jonas",
    "felix",
    "clara",
    "hugo",
    "ines",
    "marta",
    "pablo",
    "diego",
    "lucia",
    "tom",
    "ben",
    "max",
    "leo",
    "zoe",
    "ella",
    "amir",
    "omar",
    "fatima",
    "aisha",
    "yuki",
    "kenji",
    "wei",
    "li",
    "priya",
    "arjun",
    "rahul",
    "meera",
    "ravi",
    "sunil",
    "grace",
    "ruth",
    "amara",
    "kwame",
    "samuel",
    "tara",
    "oscar",
    "sven",
    "bjorn",
    "soren",
    "ayse",
    "mehmet",
    "ivan",
    "olga",
    "igor",
]
LAST = [
    "lopez",
    "garcia",
    "martinez",
    "rodriguez",
    "smith",
    "johnson",
    "brown",
    "jones",
    "miller",
    "davis",
    "wilson",
    "moore",
    "taylor",
    "anderson",
    "thomas",
    "jackson",
    "white",
    "harris",
    "martin",
    "thompson",
    "young",
    "king",
    "wright",
    "scott",
    "green",
    "baker",
    "adams",
    "nelson",
    "hill",
    "campbell",
    "mitchell",
    "roberts",
    "carter",
    "phillips",
    "evans",
    "turner",
    "torres",
    "parker",
    "collins",
    "edwards",
    "stewart",
    "morris",
    "murphy",
    "cook",
    "rogers",
    "morgan",
    "peterson",
    "cooper",
    "reed",
    "bailey",
    "bell",
    "gomez",
    "kelly",
    "howard",
    "ward",
    "cox",
    "diaz",
    "richardson",
    "wood",
    "watson",
    "brooks",
    "bennett",
    "gray",
    "james",
    "reyes",
    "cruz",
    "hughes",
    "price",
    "myers",
    "long",
    "foster",
    "sanders",
    "ross",
    "morales",
    "powell",
    "sullivan",
    "russell",
    "ortiz",
    "jenkins",
    "gutierrez",
    "perry",
    "butler",
    "barnes",
    "fisher",
    "henderson",
    "coleman",
    "simmons",
    "patterson",
    "jordan",
    "reynolds",
    "hamilton",
    "graham",
    "kim",
    "gonzales",
    "alexander",
    "ramos",
    "wallace",
    "griffin",
    "west",
    "cole",
    "hayes",
    "chavez",
    "gibson",
    "bryant",
    "ellis",
    "stevens",
    "murray",
    "ford",
    "marshall",
    "owens",
    "mcdonald",
    "harrison",
    "ruiz",
    "kennedy",
    "wells",
    "alvarez",
    "woods",
    "mendoza",
    "castillo",
    "olson",
    "webb",
    "washington",
    "tucker",
    "freeman",
    "burns",
    "henry",
    "vasquez",
    "snyder",
    "simpson",
    "crawford",
    "jimenez",
    "porter",
    "mason",
    "shaw",
    "gordon",
    "wagner",
    "hunter",
    "romero",
    "hicks",
    "dixon",
    "hunt",
    "palmer",
    "robertson",
    "black",
    "holmes",
    "stone",
    "meyer",
    "boyd",
    "mills",
    "warren",
    "fox",
    "rose",
    "rice",
    "moreno",
    "schmidt",
    "patel",
    "ferguson",
    "nichols",
    "herrera",
    "medina",
    "ryan",
    "fernandez",
    "weaver",
    "daniels",
    "stephens",
    "gardner",
    "payne",
    "kelley",
    "dunn",
    "pierce",
    "arnold",
    "tran",
    "spencer",
    "peters",
    "hawkins",
    "grant",
    "hansen",
    "castro",
    "hoffman",
    "hart",
    "elliott",
    "cunningham",
    "knight",
    "bradley",
]
COMPANY = "acme"
PERSONAL_DOMAINS = ("gmail.example", "fastmail.example", "proton.example")
COLUMNS = ("pseudonym", "source", "handle", "display_name", "email", "actor_kind")


def _login(rng: random.Random, first: str, last: str) -> str:
    style = rng.randrange(12)
    digits = str(rng.randint(1, 99))
    return [
        f"{first[0]}{last}",
        f"{first}-{last}",
        f"{first}.{last}",
        f"{first}_{last}",
        f"{first}{last}",
        f"{last}{first[0]}",
        f"{first}{last[0]}",
        f"{last}{digits}",
        f"{first}{last}{digits}",
        f"{first[0]}{last}-{COMPANY}",
        f"{COMPANY}-{first}{last[0]}",
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(7)),
    ][style]


def population(
    people: int, *, seed: int = 0, key: str = "synthetic-key"
) -> tuple[pl.DataFrame, dict[str, str]]:
    """``people`` persons' accounts as vault rows, and each account's person id.

    Args:
        people: how many persons (about 3.3 accounts each).
        seed: the random seed (the same seed gives the same population).
        key: the pseudonym key.

    Returns:
        vault rows (``pseudonym, source, handle, display_name, email, actor_kind``) and
        pseudonym → person id (bots included, as ``bot-<n>``).
    """
    rng = random.Random(seed)
    rows: list[tuple[str, str, str, str | None, str | None, str]] = []
    truth: dict[str, str] = {}
    used: set[tuple[str, str]] = set()

    def add(pid: str, source: str, handle: str, name: str | None, email: str | None, kind: str):
        if (source, handle.lower()) in used:
            return
        used.add((source, handle.lower()))
        p = pseudonym(key, source, handle)
        rows.append((p, source, handle, name, email, kind))
        truth[p] = pid

    for n in range(people):
        pid = f"s{seed}-{n}"
        if rng.random() < 0.02:
            bot = f"{rng.choice(['ci', 'deploy', 'release', 'renovate'])}-bot-{n}"
            add(pid, "github", f"{bot}[bot]", bot, None, "bot")
            add(pid, "jira", f"557058:{n:08x}", bot, None, "bot")
            continue
        first, last = rng.choice(FIRST), rng.choice(LAST)
        name = f"{first.title()} {last.title()}"
        work = f"{first}.{last}@{COMPANY}.example"
        while ("mailbox", work) in used:
            work = f"{first}.{last}{rng.randint(2, 99)}@{COMPANY}.example"
        used.add(("mailbox", work))
        login = _login(rng, first, last)
        github_id = rng.randint(1_000_000, 150_000_000)
        add(
            pid,
            "github",
            login,
            name if rng.random() < 0.4 else None,
            work if rng.random() < 0.3 else None,
            "human",
        )
        if rng.random() < 0.3:
            add(pid, "gitlab", _login(rng, first, last), name, None, "human")
        add(
            pid,
            "jira",
            f"712020:{seed:04x}{n:012x}",
            name,
            work if rng.random() < 0.6 else None,
            "human",
        )
        roll = rng.random()
        if roll < 0.6:
            commit = work
        elif roll < 0.8:
            commit = f"{first[0]}{last}@{rng.choice(PERSONAL_DOMAINS)}"
        else:
            commit = f"{github_id}+{login}@users.noreply.github.com"
        add(pid, "email", commit, name, commit, "human")
    frame = pl.DataFrame(rows, schema=list(COLUMNS), orient="row")
    return frame, truth
