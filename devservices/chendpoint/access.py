"""Users, profiles, grants and quotas of the embedded endpoint, read from the same
users.xml that clickhouse-server loads in production (deploy/clickhouse/users.xml).

chdb has no access control of its own: every connection may do anything. So the
endpoint enforces each rule of the file itself:
  - a profile's settings are applied to the user's connections, `readonly` last,
    so the engine then refuses any change (what the profile's constraints say); a
    profile whose constraints would allow one is refused when the file is read;
  - `GRANT SELECT ON db.*` (the only grant form used) is checked on the query's own
    syntax tree, from the engine's `EXPLAIN AST`: the statement must be a SELECT,
    every table must be in a granted database or one of the system tables
    ClickHouse lets every user read, every table function must be one that reads no
    outside source, and no function may read files or other tables by name;
  - a quota's queries, result rows and rows read per interval, and the profile's
    max_concurrent_queries_for_user, are counted here per user.
Users the file does not grant anything to (no <grants>) may do everything, as in
clickhouse-server. Users of CHENDPOINT_USERS (the development writer) are such users.
Networks are not enforced: the endpoint listens on loopback only.
"""

from __future__ import annotations

import fnmatch
import hmac
import os
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devservices.chendpoint.engine import (
    ACCESS_DENIED,
    AUTHENTICATION_FAILED,
    QUOTA_EXCEEDED,
    READONLY,
    TOO_MANY_SIMULTANEOUS_QUERIES,
    EngineError,
)

PROJECT_USERS_XML = Path(__file__).resolve().parents[2] / "deploy" / "clickhouse" / "users.xml"

# Settings the endpoint enforces itself rather than passing to the engine.
ENDPOINT_SETTINGS = frozenset({"max_concurrent_queries_for_user"})

# The system tables any user may read when select_from_system_db_requires_grant is on
# (deploy/clickhouse/access.xml), less those that list other databases' objects, which
# the server filters by grant and the endpoint cannot: it refuses them instead.
ALWAYS_READABLE_SYSTEM_TABLES = frozenset({
    "one", "contributors", "licenses", "time_zones", "collations", "formats", "privileges",
    "data_type_families", "database_engines", "table_engines", "table_functions",
    "aggregate_function_combinators", "functions", "settings", "current_roles", "enabled_roles", "quota_usage",
})
# Table functions that read no outside source (files, URLs, other servers, other tables
# by name): bounded by the profile's limits like any SELECT.
HARMLESS_TABLE_FUNCTIONS = frozenset({
    "numbers", "numbers_mt", "zeros", "zeros_mt", "generate_series", "generateSeries", "values", "null",
    "generateRandom", "format", "view",
})
# Functions that read files, dictionaries, or tables named by a string.
SOURCE_FUNCTION = re.compile(r"^(file|dictGet.*|dictHas|dictIsIn|joinGet.*|hasColumnInTable|getServerSetting)$",
                             re.IGNORECASE)
# Statements a SELECT grant covers (DESCRIBE needs SHOW COLUMNS, which SELECT implies).
READ_ROOTS = ("SelectWithUnionQuery", "SelectIntersectExceptQuery", "DescribeQuery")
_NODE = re.compile(r"^ *(\w+)(?: (\S+))?")


@dataclass
class Quota:
    duration: int
    limits: dict[str, int]  # "queries", "result_rows", "read_rows" -> at most, per interval
    keyed: bool = False  # counted per quota_key the client sends (else per user)


@dataclass
class User:
    name: str
    password: str
    settings: dict[str, str] = field(default_factory=dict)  # the profile, readonly included
    databases: tuple[str, ...] | None = None  # SELECT granted on these (patterns); None: everything
    quota: Quota | None = None

    @property
    def readonly(self) -> int:
        return int(self.settings.get("readonly", 0))

    @property
    def restricted(self) -> bool:
        return self.databases is not None

    @property
    def max_concurrent(self) -> int:
        return int(self.settings.get("max_concurrent_queries_for_user", 0))

    @property
    def engine_settings(self) -> dict[str, str]:
        return {name: value for name, value in self.settings.items() if name not in ENDPOINT_SETTINGS}


def load_users(users_xml: Path | None, environ: Mapping[str, str] = os.environ) -> list[User]:
    """The users of `users_xml` whose password is in the environment, plus CHENDPOINT_USERS
    (`name:password,...`, full access) and CHENDPOINT_READONLY_USERS (readonly = 2)."""
    users = [User(*_name_password(entry)) for entry in environ.get("CHENDPOINT_USERS", "default:").split(",")
             if entry.strip()]
    users += [User(*_name_password(entry), settings={"readonly": "2"})
              for entry in environ.get("CHENDPOINT_READONLY_USERS", "").split(",") if entry.strip()]
    if users_xml is not None:
        users += _users_of(ET.parse(users_xml).getroot(), environ)
    return users


def _name_password(entry: str) -> tuple[str, str]:
    name, _, password = entry.strip().partition(":")
    return name, password


def _users_of(root: ET.Element, environ: Mapping[str, str]) -> list[User]:
    profiles = {profile.tag: _profile_settings(profile) for profile in root.iterfind("profiles/*")}
    quotas = {quota.tag: _quota(quota) for quota in root.iterfind("quotas/*")}
    users = []
    for element in root.iterfind("users/*"):
        password = element.find("password")
        variable = password.get("from_env") if password is not None else None
        if variable is None or variable not in environ:
            continue  # no password configured here: the user cannot log in
        grants = [(query.text or "").strip() for query in element.iterfind("grants/query")]
        users.append(User(
            name=element.tag,
            password=environ[variable],
            settings=dict(profiles.get(element.findtext("profile", "default"), {})),
            databases=tuple(_granted_databases(grants)) if grants else None,
            quota=quotas.get(element.findtext("quota", "")),
        ))
    return users


def _profile_settings(profile: ET.Element) -> dict[str, str]:
    """A profile's settings; refuses one whose constraints the endpoint cannot enforce
    as the server does.

    The endpoint enforces constraints through the engine's `readonly = 1`, which refuses
    every change, so `const`, `min` and `max` all hold on a read-only profile. It cannot
    enforce them on a profile that may change its settings, nor let a read-only session
    change a `changeable_in_readonly` setting: chdb refuses a users file holding one (it
    needs settings_constraints_replace_previous, which chdb's embedded server never reads)."""
    readonly = (profile.findtext("readonly") or "0").strip()
    for setting in profile.iterfind("constraints/*"):
        if readonly != "1" or setting.find("changeable_in_readonly") is not None:
            raise ValueError(f"the endpoint cannot enforce profile {profile.tag}'s constraint on {setting.tag}: "
                             "it enforces constraints only as readonly = 1 does, refusing every change")
    return {setting.tag: (setting.text or "").strip() for setting in profile if setting.tag != "constraints"}


def _quota(element: ET.Element) -> Quota | None:
    interval = element.find("interval")
    if interval is None:
        return None
    limits = {child.tag: int(child.text or 0) for child in interval if child.tag != "duration" and int(child.text or 0)}
    return Quota(int(interval.findtext("duration", "60")), limits, keyed=element.find("keyed") is not None)


_GRANT_SELECT = re.compile(r"^GRANT\s+SELECT\s+ON\s+([\w*]+)\.\*$", re.IGNORECASE)


def _granted_databases(grants: list[str]) -> list[str]:
    databases = []
    for grant in grants:
        match = _GRANT_SELECT.match(grant)
        if match is None:
            raise ValueError(f"the endpoint understands only `GRANT SELECT ON db.*` grants, not {grant!r}")
        databases.append(match.group(1))
    return databases


class Users:
    """Authentication, and what each user's requests may do at once and per interval."""

    def __init__(self, users: list[User]):
        self._by_name = {user.name: user for user in users}
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}
        self._usage: dict[tuple[str, str], tuple[int, dict[str, int]]] = {}  # (user, key) -> (interval, counts)

    def authenticate(self, name: str, password: str) -> User:
        user = self._by_name.get(name)
        # Compare even for unknown users so timing does not reveal which exist.
        expected = user.password if user else "\0unknown"
        if not hmac.compare_digest(expected.encode(), password.encode()) or user is None:
            raise EngineError(
                AUTHENTICATION_FAILED,
                f"Code: {AUTHENTICATION_FAILED}. DB::Exception: {name}: Authentication failed: password is "
                "incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)",
            )
        return user

    # -- concurrency and quotas ---------------------------------------------------------
    def begin(self, user: User, quota_key: str = "") -> None:
        """Count a query that starts; refuses it past the user's concurrency or quota."""
        with self._lock:
            running = self._running.get(user.name, 0)
            if user.max_concurrent and running >= user.max_concurrent:
                raise EngineError(TOO_MANY_SIMULTANEOUS_QUERIES,
                                  f"Code: {TOO_MANY_SIMULTANEOUS_QUERIES}. DB::Exception: Too many simultaneous "
                                  f"queries for user {user.name}. Current: {running}, maximum: "
                                  f"{user.max_concurrent}. (TOO_MANY_SIMULTANEOUS_QUERIES)")
            self._charge(user, quota_key, {"queries": 1})
            self._running[user.name] = running + 1

    def end(self, user: User, quota_key: str = "", result_rows: int = 0, read_rows: int = 0) -> None:
        with self._lock:
            self._running[user.name] -= 1
            try:
                self._charge(user, quota_key, {"result_rows": result_rows, "read_rows": read_rows}, check=False)
            except EngineError:
                pass  # counted; the next query is refused

    def _charge(self, user: User, quota_key: str, amounts: dict[str, int], check: bool = True) -> None:
        quota = user.quota
        if quota is None:
            return
        interval = int(time.time()) // quota.duration
        key = (user.name, quota_key if quota.keyed else "")
        number, counts = self._usage.get(key, (interval, {}))
        if number != interval:
            counts = {}
        for resource, limit in quota.limits.items():
            used = counts.get(resource, 0)
            if check and used + amounts.get(resource, 0) > limit or used > limit:
                ends = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime((interval + 1) * quota.duration))
                raise EngineError(QUOTA_EXCEEDED,
                                  f"Code: {QUOTA_EXCEEDED}. DB::Exception: Quota for user `{user.name}` for "
                                  f"{quota.duration}s has been exceeded: {resource} = {used}/{limit}. Interval "
                                  f"will end at {ends} UTC. (QUOTA_EXCEEDED)")
        for resource, amount in amounts.items():
            counts[resource] = counts.get(resource, 0) + amount
        self._usage[key] = (interval, counts)


# -- grants ----------------------------------------------------------------------------
def check_select_grants(user: User, ast: str, current_database: str, databases: Callable[[], set[str]]) -> None:
    """Refuse (ACCESS_DENIED) what `user`'s SELECT grants do not cover, reading the
    query's `EXPLAIN AST` text. `databases` lists the engine's databases, asked only for a
    query that names `db.table` where an expression stands (`x IN db.table`)."""
    lines = ast.splitlines()
    root, argument = _node(lines[0]) if lines else ("", None)
    if root == "Set":
        return  # the engine refuses it under readonly, and the connection is not reused
    if root == "UseQuery":
        _check_table(user, f"{_unquote(argument or '')}.*", current_database)
        return
    if root not in READ_ROOTS:
        if user.readonly:
            raise EngineError(READONLY, f"Code: {READONLY}. DB::Exception: {user.name}: Cannot execute query in "
                                        "readonly mode. (READONLY)")
        _deny(user, f"only SELECT is granted, and this is {root or 'another statement'}")
    previous = ""
    for line in lines:
        node, argument = _node(line)
        name = _unquote(argument or "")
        if node == "TableIdentifier":
            _check_table(user, name, current_database)
        elif node == "Function" and previous == "TableExpression":
            if name not in HARMLESS_TABLE_FUNCTIONS:
                _deny(user, f"table function {name}() is not granted")
        elif node == "Function" and SOURCE_FUNCTION.match(name):
            _deny(user, f"function {name}() is not granted")
        elif node == "Identifier" and "." in name and name.split(".", 1)[0] in databases():
            _check_table(user, name, current_database)  # `x IN db.table`
        previous = node
    return None


def _node(line: str) -> tuple[str, str | None]:
    """(node kind, its argument) of one EXPLAIN AST line."""
    match = _NODE.match(line)
    return (match.group(1), match.group(2)) if match else ("", None)


def _check_table(user: User, name: str, current_database: str) -> None:
    database, _, table = name.rpartition(".")
    database = database or current_database
    if database == "system" and table in ALWAYS_READABLE_SYSTEM_TABLES:
        return
    if not any(fnmatch.fnmatchcase(database, pattern) for pattern in user.databases or ()):
        _deny(user, f"SELECT ON {database}.{table} is not granted")


def _unquote(name: str) -> str:
    return name.replace("`", "").replace('"', "")


def _deny(user: User, what: str) -> None:
    raise EngineError(ACCESS_DENIED, f"Code: {ACCESS_DENIED}. DB::Exception: {user.name}: Not enough privileges: "
                                     f"{what}. (ACCESS_DENIED)")
