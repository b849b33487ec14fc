from django.db import models


class OrganisationType(models.TextChoices):
    NATIONAL = "national", "National"
    REGION = "region", "Region"
    ICB = "icb", "Integrated care board"
    SUB_ICB = "sub_icb", "Sub-ICB location"
    PCN = "pcn", "Primary care network"
    PRACTICE = "practice", "GP practice"
