"""Where each kind of role holder sits in the test tree (tests.factories.TREE_ROWS) and what it reaches."""

from accounts.models import OrganisationType

ALL_PRACTICES = {"A00001", "A00002", "A00003", "B00001"}
# Where each kind of holder sits in the test tree, and the practices it reaches.
HOLDER = {
    OrganisationType.PRACTICE: ("A00001", {"A00001"}),
    OrganisationType.SUB_ICB: ("01A", {"A00001", "A00002"}),
    OrganisationType.ICB: ("QAA", {"A00001", "A00002", "A00003"}),
    OrganisationType.NATIONAL: ("ENG", ALL_PRACTICES),
}
