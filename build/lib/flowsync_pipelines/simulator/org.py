"""The simulated organisation: teams, people (with per-tool identities), repositories."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .clock import align_to_work
from .conventions import DEMO, LOGIN_STYLES, Conventions
from .ids import digits, hex_id, int_from, uuid_from

COMPANY = "Acme"
ORG_SLUG = "acme"
EMAIL_DOMAIN = "acme.example"
JIRA_PROJECT_KEY = "PLAT"
LINEAR_TEAM_KEY = "MOB"

DEPENDABOT_ID = "bot-dependabot"
CI_BOT_ID = "bot-acme-ci"

ROLE_ENGINEER = "engineer"
ROLE_MANAGER = "engineering_manager"
ROLE_PRODUCT = "product_manager"
ROLE_DESIGNER = "designer"
ROLE_BOT = "bot"


@dataclass(frozen=True)
class Team:
    key: str
    name: str
    tz: str
    repos: list[str]
    jira_component: str | None
    linear_team_key: str | None
    members: list[str]
    slack_channel: str = ""

    @property
    def tracker(self) -> str:
        return "linear" if self.linear_team_key else "jira"


@dataclass(frozen=True)
class Person:
    person_id: str
    name: str
    team: str | None
    emails: list[str]
    accounts: dict[str, str]
    is_bot: bool = False
    left_at: datetime | None = None
    role: str = ROLE_ENGINEER
    tz: str = "UTC"
    work_email: str = ""
    # Which address each tool shows for this person ("git" = commit metadata).
    tool_emails: dict[str, str] = field(default_factory=dict)
    github_id: int | None = None
    gitlab_id: int | None = None
    # Jira Cloud hides emailAddress for users with a private profile.
    jira_email_visible: bool = True
    day_start: int = 9

    def has_left(self, as_of: datetime) -> bool:
        return self.left_at is not None and as_of >= self.left_at

    def email_for(self, tool: str) -> str:
        return self.tool_emails.get(tool, self.work_email)


@dataclass(frozen=True)
class Repo:
    host: str  # "github" | "gitlab"
    full_name: str
    team: str
    service: str
    language: str
    numeric_id: int
    pr_number_offset: int
    ci: str  # "actions" | "jenkins" | "gitlab" | "circleci"
    extra_jenkins_job: str | None = None
    description: str = ""
    weight: float = 1.0

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[1]


@dataclass(frozen=True)
class Organisation:
    teams: list[Team]
    people: list[Person]
    repos: list[Repo]

    def person(self, person_id: str) -> Person:
        return self._by_id()[person_id]

    def _by_id(self) -> dict[str, Person]:
        cache = self.__dict__.get("_people_by_id")
        if cache is None:
            cache = {p.person_id: p for p in self.people}
            object.__setattr__(self, "_people_by_id", cache)
        return cache

    def team(self, key: str) -> Team:
        return next(t for t in self.teams if t.key == key)

    def repo(self, full_name: str) -> Repo:
        return next(r for r in self.repos if r.full_name == full_name)

    def members_with_role(self, team: str, role: str) -> list[Person]:
        return [
            self.person(pid) for pid in self.team(team).members if self.person(pid).role == role
        ]


# (display name, ascii first, ascii last). The first six are always used so every seed
# exercises Unicode: é, ø, ş, a CJK name, á and å.
_PINNED_NAMES = [
    ("Zoé Lefèvre", "zoe", "lefevre"),
    ("Søren Østergaard", "soren", "ostergaard"),
    ("Ayşe Yıldız", "ayse", "yildiz"),
    ("李伟", "wei", "li"),
    ("José Álvarez", "jose", "alvarez"),
    ("Björn Åkesson", "bjorn", "akesson"),
]
_OTHER_NAMES = [
    ("Jane Doe", "jane", "doe"),
    ("Marcus Webb", "marcus", "webb"),
    ("Priya Raman", "priya", "raman"),
    ("Tom Fischer", "tom", "fischer"),
    ("Hannah Becker", "hannah", "becker"),
    ("Arjun Mehta", "arjun", "mehta"),
    ("Olivia Grant", "olivia", "grant"),
    ("Daniel Kim", "daniel", "kim"),
    ("Fatima Haddad", "fatima", "haddad"),
    ("Lukas Wagner", "lukas", "wagner"),
    ("Emma Lindqvist", "emma", "lindqvist"),
    ("Rahul Nair", "rahul", "nair"),
    ("Sophie Turner", "sophie", "turner"),
    ("Kwame Mensah", "kwame", "mensah"),
    ("Nina Petrova", "nina", "petrova"),
    ("Carlos Mendes", "carlos", "mendes"),
    ("Grace Okafor", "grace", "okafor"),
    ("Ethan Brooks", "ethan", "brooks"),
    ("Meera Iyer", "meera", "iyer"),
    ("Jonas Weber", "jonas", "weber"),
    ("Chloe Martin", "chloe", "martin"),
    ("Vikram Singh", "vikram", "singh"),
    ("Isabel Costa", "isabel", "costa"),
    ("Noah Schmidt", "noah", "schmidt"),
    ("Ananya Gupta", "ananya", "gupta"),
    ("Liam O'Brien", "liam", "obrien"),
    ("Mia Hoffmann", "mia", "hoffmann"),
    ("Samuel Adeyemi", "samuel", "adeyemi"),
    ("Laura Rossi", "laura", "rossi"),
    ("Kenji Watanabe", "kenji", "watanabe"),
    ("Aisha Khan", "aisha", "khan"),
    ("Ben Carter", "ben", "carter"),
    ("Elena Popescu", "elena", "popescu"),
    ("Oscar Nilsson", "oscar", "nilsson"),
    ("Ruth Abebe", "ruth", "abebe"),
    ("Felix Braun", "felix", "braun"),
    ("Tara Sullivan", "tara", "sullivan"),
    ("Diego Ramírez", "diego", "ramirez"),
    ("Yuki Sato", "yuki", "sato"),
    ("Peter Novak", "peter", "novak"),
    ("Amara Obi", "amara", "obi"),
    ("Sara Berg", "sara", "berg"),
]

_TEAM_SPECS = [
    # key, name, tz, tracker key (jira component or linear team key), slack channel
    ("payments", "Payments", "Europe/Berlin", "jira", "Payments", "#payments-eng"),
    ("platform", "Platform", "America/New_York", "jira", "Platform", "#platform-eng"),
    ("mobile", "Mobile", "Asia/Kolkata", "linear", LINEAR_TEAM_KEY, "#mobile-eng"),
    ("growth", "Growth", "Europe/London", "jira", "Growth", "#growth-eng"),
]
_ROLES_PER_TEAM = [ROLE_MANAGER, ROLE_PRODUCT, ROLE_DESIGNER] + [ROLE_ENGINEER] * 7
# A few people live outside their team's zone.
_REMOTE_ZONES = {"payments": "Europe/Warsaw", "platform": "America/Los_Angeles"}
_REPO_SPECS = [
    # host, name, team, language, ci, extra jenkins job, description, weight
    ("github", "payments-api", "payments", "python", "actions", None, "Payments REST API", 1.4),
    (
        "github",
        "billing-worker",
        "payments",
        "python",
        "jenkins",
        None,
        "Invoice and billing jobs",
        0.8,
    ),
    (
        "github",
        "api-gateway",
        "platform",
        "go",
        "actions",
        "api-gateway-integration",
        "Edge API gateway",
        1.1,
    ),
    ("gitlab", "auth-service", "platform", "go", "gitlab", None, "OAuth and sessions", 0.9),
    ("github", "mobile-app", "mobile", "typescript", "actions", None, "React Native app", 1.4),
    ("github", "mobile-bff", "mobile", "typescript", "actions", None, "Backend for frontend", 0.7),
    ("github", "growth-web", "growth", "typescript", "actions", None, "Marketing site", 1.2),
    (
        "gitlab",
        "experiments-service",
        "growth",
        "python",
        "gitlab",
        None,
        "A/B experiment assignment",
        0.8,
    ),
]


def _github_login(rng: random.Random, first: str, last: str, styles: tuple[str, ...]) -> str:
    style = LOGIN_STYLES[styles[rng.randrange(len(styles))]]
    nn = str(rng.randint(10, 99)) if "{nn}" in style else ""
    return style.format(f=first[0], l=last[0], first=first, last=last, org=ORG_SLUG, nn=nn)


_PERSONAL_PLAN = ["git", "git", "git+jira", "jira", "linear", "gitlab+sentry"]


def _gitlab_username(rng: random.Random, first: str, last: str) -> str:
    return [f"{first[0]}{last}", f"{first}.{last}", f"{first}_{last}", f"{last}.{first[0]}"][
        rng.randrange(4)
    ]


def _jira_account_id(seed: int, person_id: str, rng: random.Random) -> str:
    # Most Atlassian accounts are "712020:<uuid>"; older ones are 24 opaque hex chars.
    if rng.random() < 0.8:
        return "712020:" + uuid_from(seed, "jira", person_id)
    return hex_id(24, seed, "jira-legacy", person_id)


def build_organisation(
    seed: int, start: datetime, days: int, conventions: Conventions = DEMO
) -> Organisation:
    """The organisation's teams, people and repositories, their habits as ``conventions`` say."""
    rng = random.Random(f"{seed}:org")
    pool = list(_OTHER_NAMES)
    rng.shuffle(pool)
    names = _PINNED_NAMES + pool[: 10 * len(_TEAM_SPECS) - len(_PINNED_NAMES)]
    rng.shuffle(names)

    people: list[Person] = []
    teams: list[Team] = []
    used_logins: set[str] = set()
    name_iter = iter(names)
    person_counter = 0

    # People who use a personal address somewhere (and where).
    personal_plan = [
        _PERSONAL_PLAN[i % len(_PERSONAL_PLAN)] for i in range(conventions.personal_email_people)
    ]

    drafts: list[dict] = []
    for key, team_name, tz, tracker, tracker_key, channel in _TEAM_SPECS:
        members: list[str] = []
        remote_slot = rng.randrange(3, 10) if key in _REMOTE_ZONES else -1
        for slot, role in enumerate(_ROLES_PER_TEAM):
            person_counter += 1
            display, first, last = next(name_iter)
            pid = f"p{person_counter:02d}"
            login = _github_login(rng, first, last, conventions.login_styles)
            while login in used_logins:
                login = f"{login}{rng.randint(2, 9)}"
            used_logins.add(login)
            drafts.append(
                {
                    "pid": pid,
                    "display": display,
                    "first": first,
                    "last": last,
                    "team": key,
                    "tracker": tracker,
                    "role": role,
                    "tz": _REMOTE_ZONES[key] if slot == remote_slot else tz,
                    "login": login,
                }
            )
            members.append(pid)
        repos = [f"{ORG_SLUG}/{spec[1]}" for spec in _REPO_SPECS if spec[2] == key]
        teams.append(
            Team(
                key=key,
                name=team_name,
                tz=tz,
                repos=repos,
                jira_component=tracker_key if tracker == "jira" else None,
                linear_team_key=tracker_key if tracker == "linear" else None,
                members=members,
                slack_channel=channel,
            )
        )

    gitlab_teams = {spec[2] for spec in _REPO_SPECS if spec[0] == "gitlab"}
    figma_teams = {"payments", "mobile", "growth"}
    personal_people = rng.sample([d["pid"] for d in drafts], len(personal_plan))
    personal_usage = dict(zip(personal_people, personal_plan, strict=True))
    noreply_people = set(
        rng.sample([d["pid"] for d in drafts], round(conventions.noreply_share * len(drafts)))
    )

    # The leaver: an engineer on a Jira team, leaving around mid-period.
    leaver_candidates = [
        d["pid"] for d in drafts if d["role"] == ROLE_ENGINEER and d["tracker"] == "jira"
    ]
    leaver_pid = rng.choice(leaver_candidates)

    for d in drafts:
        pid, first, last, role = d["pid"], d["first"], d["last"], d["role"]
        work_email = f"{first}.{last}@{EMAIL_DOMAIN}"
        technical = role in (ROLE_ENGINEER, ROLE_MANAGER)
        accounts: dict[str, str] = {}
        github_id = gitlab_id = None
        if technical:
            accounts["github"] = d["login"]
            github_id = int_from(1_200_000, 140_000_000, seed, "gh-id", pid)
        if technical and d["team"] in gitlab_teams:
            accounts["gitlab"] = _gitlab_username(rng, first, last)
            gitlab_id = int_from(2_000_000, 19_000_000, seed, "gl-id", pid)
        if d["tracker"] == "jira":
            accounts["jira"] = _jira_account_id(seed, pid, rng)
        else:
            accounts["linear"] = uuid_from(seed, "linear-user", pid)
        if d["team"] in figma_teams and (
            role in (ROLE_DESIGNER, ROLE_PRODUCT) or rng.random() < 0.5
        ):
            accounts["figma"] = digits(19, seed, "figma-user", pid)
        if technical:
            accounts["sentry"] = digits(7, seed, "sentry-user", pid)

        tool_emails: dict[str, str] = {}
        emails = [work_email]
        usage = personal_usage.get(pid)
        if usage:
            domain = rng.choice(["gmail.example", "fastmail.example", "proton.example"])
            personal = f"{first[0]}{last}@{domain}"
            emails.append(personal)
            for tool in usage.split("+"):
                tool_emails[tool] = personal
        if pid in noreply_people and "github" in accounts and "git" not in tool_emails:
            noreply = f"{github_id}+{accounts['github']}@users.noreply.github.com"
            tool_emails["git"] = noreply
            emails.append(noreply)

        left_at = None
        if pid == leaver_pid:
            midpoint = start + timedelta(days=days / 2 + rng.uniform(-3, 3))
            left_at = align_to_work(midpoint, d["tz"], rng)
        people.append(
            Person(
                person_id=pid,
                name=d["display"],
                team=d["team"],
                emails=emails,
                accounts=accounts,
                left_at=left_at,
                role=role,
                tz=d["tz"],
                work_email=work_email,
                tool_emails=tool_emails,
                github_id=github_id,
                gitlab_id=gitlab_id,
                jira_email_visible=rng.random() > conventions.jira_email_hidden_rate,
                day_start=rng.choice([8, 9, 9, 9, 10]),
            )
        )

    people.append(
        Person(
            person_id=DEPENDABOT_ID,
            name="dependabot[bot]",
            team=None,
            emails=["49699333+dependabot[bot]@users.noreply.github.com"],
            accounts={"github": "dependabot[bot]"},
            is_bot=True,
            role=ROLE_BOT,
            tz="UTC",
            work_email="49699333+dependabot[bot]@users.noreply.github.com",
            github_id=49699333,
        )
    )
    ci_bot_github_id = int_from(150_000_000, 190_000_000, seed, "ci-bot")
    people.append(
        Person(
            person_id=CI_BOT_ID,
            name="Acme CI Bot",
            team=None,
            emails=[f"ci-bot@{EMAIL_DOMAIN}"],
            accounts={
                "github": "acme-ci-bot[bot]",
                "gitlab": "acme-ci-bot",
                "jira": "557058:" + uuid_from(seed, "jira-app", "acme-ci-bot"),
            },
            is_bot=True,
            role=ROLE_BOT,
            tz="UTC",
            work_email=f"ci-bot@{EMAIL_DOMAIN}",
            tool_emails={"git": f"{ci_bot_github_id}+acme-ci-bot[bot]@users.noreply.github.com"},
            github_id=ci_bot_github_id,
            gitlab_id=int_from(20_000_000, 21_000_000, seed, "gl-ci-bot"),
        )
    )

    repos = [
        Repo(
            host=host,
            full_name=f"{ORG_SLUG}/{name}",
            team=team,
            service=name,
            language=language,
            numeric_id=(
                int_from(300_000_000, 900_000_000, seed, "gh-repo", name)
                if host == "github"
                else int_from(40_000_000, 62_000_000, seed, "gl-project", name)
            ),
            pr_number_offset=int_from(60, 900, seed, "pr-offset", name),
            ci="circleci" if name in conventions.circleci_repos else ci,
            extra_jenkins_job=jenkins,
            description=description,
            weight=weight,
        )
        for host, name, team, language, ci, jenkins, description, weight in _REPO_SPECS
    ]
    on_circleci = {r.name for r in repos if r.ci == "circleci"}
    unknown = sorted(set(conventions.circleci_repos) - on_circleci)
    if unknown or any(r.host != "github" for r in repos if r.ci == "circleci"):
        raise ValueError(
            f"conventions.circleci_repos names {unknown or sorted(on_circleci)}: CircleCI runs "
            "the CI of GitHub repositories only, named without the owner "
            f"({', '.join(r.name for r in repos if r.host == 'github')})"
        )
    return Organisation(teams=teams, people=people, repos=repos)
