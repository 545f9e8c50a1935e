"""Which ClickHouse errors a retry can outlast.

A writer that retries every error loops forever on a batch ClickHouse will never
take (a constraint the rows violate, a missing table); one that retries none drops
a batch that a busy server would have taken a moment later. The codes below are
ClickHouse's own (system.errors, `errorCodeToName`) for conditions that pass: load,
limits of the moment, a replica or Keeper away, an insert whose outcome is unknown.
Every other code is about the data or the schema, and retrying will not change it.
"""

from __future__ import annotations

from clickhouse_connect.driver.exceptions import (
    DatabaseError,
    DataError,
    IntegrityError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
)

UNKNOWN_TABLE, UNKNOWN_DATABASE = 60, 81

TRANSIENT_CODES = frozenset({
    159,  # TIMEOUT_EXCEEDED
    160,  # TOO_SLOW
    201,  # QUOTA_EXCEEDED
    202,  # TOO_MANY_SIMULTANEOUS_QUERIES
    203,  # NO_FREE_CONNECTION
    209,  # SOCKET_TIMEOUT
    210,  # NETWORK_ERROR
    236,  # ABORTED
    241,  # MEMORY_LIMIT_EXCEEDED
    242,  # TABLE_IS_READ_ONLY (a replica that lost Keeper)
    243,  # NOT_ENOUGH_SPACE
    252,  # TOO_MANY_PARTS
    279,  # ALL_CONNECTION_TRIES_FAILED
    285,  # TOO_FEW_LIVE_REPLICAS
    286,  # UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
    319,  # UNKNOWN_STATUS_OF_INSERT
    394,  # QUERY_WAS_CANCELLED
    425,  # SYSTEM_ERROR
    999,  # KEEPER_EXCEPTION
})


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same request later may succeed."""
    if isinstance(exc, OperationalError):
        return True  # the server could not be reached or did not answer
    if isinstance(exc, ProgrammingError | DataError | IntegrityError | NotSupportedError):
        return False  # the client's own refusal of the call or the data
    if isinstance(exc, DatabaseError):
        return exc.code is None or exc.code in TRANSIENT_CODES
    return False
