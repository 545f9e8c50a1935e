"""Dates and times as the dashboard shows them (2026-11-30 13:12:05 UTC), in admin too:
Django's English default, "Nov. 30, 2026, 1:12 p.m.", hides the seconds that tell an
audit trail's rows apart, and the zone."""

DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
