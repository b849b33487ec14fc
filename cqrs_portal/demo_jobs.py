"""Which demo login to try first for each job: printed by `make demo` and shown on the sign-in page when
DEBUG is on (never in production). Kept apart from the demo loader so the sign-in page imports no more than
this table."""

DEMO_JOBS = [
    ("Accept or decline an offer (QOF 2024/25)", "practice.manager@nhs.net"),
    ("Enter manual indicators (QOF 2024/25, open in the demo)", "manual.entry@nhs.net"),
    ("Declare a practice's achievement (QOF 2023/24)", "practice.manager@nhs.net"),
    ("Offer a service and approve participation", "commissioner@nhs.net"),
    ("Approve or reject declarations", "commissioner@nhs.net"),
    ("Approve financially", "finance@nhs.net"),
    ("Release payments to the agency", "role.national-finance@nhs.net"),
    ("Publish a service notice, freeze declarations", "service.manager@nhs.net"),
    ("Recalculate, confirm a held run's prevalence", "support@nhs.net"),
    ("Manage the users of a commissioner and its practices", "role.advanced-user-admin@nhs.net"),
    ("Only read a practice's achievement and payments", "role.practice-view@nhs.net"),
]
