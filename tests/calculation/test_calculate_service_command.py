"""`manage.py calculate_service`: the database's rates and dated PCN memberships with counts or populations
from files, through the engine (docs/adr/0015-service-kinds.md)."""

import csv
import datetime as dt

import pytest
from django.core.management import CommandError, call_command

from accounts.models import PcnMembership


@pytest.fixture
def rulesets(db):
    call_command("load_rulesets")


def write(path, rows):
    path.write_text("\n".join(",".join(map(str, row)) for row in rows) + "\n")
    return path


def read(path):
    return list(csv.DictReader(path.open()))


def test_ld_health_checks_are_paid_up_to_the_register_and_a_claim_over_it_is_refused(
    rulesets, tmp_path, capsys
):
    registers = write(
        tmp_path / "registers.csv",
        [("ORG_CODE", "ACH_DATE", "REGISTER"), ("A00001", 20250630, 50), ("A00001", 20250930, 50)],
    )
    claims = write(
        tmp_path / "claims.csv",
        [("ORG_CODE", "ACH_DATE", "COMPONENT", "COUNT"), ("A00001", 20250630, "health_check", 30),
         ("A00001", 20250930, "health_check", 20)],
    )  # fmt: skip
    out = tmp_path / "lines.csv"

    call_command("calculate_service", service_year="LDHC2526", claims=claims, registers=registers, out=out)

    assert [(row["ACH_DATE"], row["AMOUNT"]) for row in read(out)] == [
        ("20250630", "4200.00"),
        ("20250930", "2800.00"),
    ]
    assert "rate health_check £140.0000 is unconfirmed" in capsys.readouterr().err

    over = write(
        tmp_path / "over.csv",
        [("ORG_CODE", "ACH_DATE", "COMPONENT", "COUNT"), ("A00001", 20250630, "health_check", 30),
         ("A00001", 20250930, "health_check", 21)],
    )  # fmt: skip
    with pytest.raises(CommandError, match="line 3, field count: health_check: 51 in the year to 2025-09-30"):
        call_command("calculate_service", service_year="LDHC2526", claims=over, registers=registers, out=out)


def test_a_network_contract_month_follows_the_pcn_membership_on_the_date(rulesets, tree, tmp_path):
    PcnMembership.objects.update(start_date=dt.date(2019, 7, 1))
    # A00002 leaves U00001 for U00002 on 1 October 2024.
    moved = PcnMembership.objects.get(practice__code="A00002")
    PcnMembership.objects.filter(pk=moved.pk).update(end_date=dt.date(2024, 9, 30))
    PcnMembership.objects.create(practice=moved.practice, pcn=tree["U00002"], start_date=dt.date(2024, 10, 1))
    populations = write(
        tmp_path / "populations.csv",
        [("ORG_CODE", "REGISTERED", "WEIGHTED", "ADJUSTED"), ("A00001", 10000, "10234.5", 9000),
         ("A00002", 5000, "4800.25", 5200), ("A00003", 3000, "3000", 2800), ("B00001", 2000, "2100", 1900)],
    )  # fmt: skip
    payees = write(
        tmp_path / "payees.csv",
        [("PCN_CODE", "PAYEE_CODE", "START_DATE", "END_DATE"), ("U00001", "A00001", "2019-07-01", ""),
         ("U00002", "A00003", "2019-07-01", ""), ("U00003", "B00001", "2019-07-01", "")],
    )  # fmt: skip

    def month(on):
        out = tmp_path / f"{on}.csv"
        call_command(
            "calculate_service", service_year="NCD2425", achievement_date=on, populations=populations,
            payees=payees, out=out,
        )  # fmt: skip
        return {(row["PAYEE_CODE"], row["COMPONENT"]): row["AMOUNT"] for row in read(out)}

    june, october = month(dt.date(2024, 6, 30)), month(dt.date(2024, 10, 31))
    # U00001 in June: A + A2 = 15,000 registered × £2.218 / 12 = £2,772.50, to A00001.
    assert june[("A00001", "core_pcn_funding_registered")] == "2772.50"
    # In October A00001 is alone: 10,000 × £2.218 / 12 = £1,848.33; U00002 = 8,000: £1,478.66 to A00003.
    assert october[("A00001", "core_pcn_funding_registered")] == "1848.33"
    assert october[("A00003", "core_pcn_funding_registered")] == "1478.66"
    assert (
        june[("A00002", "network_participation")] == october[("A00002", "network_participation")] == "704.43"
    )


def test_a_points_year_is_not_calculated_as_a_service(rulesets, tmp_path):
    with pytest.raises(CommandError, match="QOF2627 is paid by points with thresholds, not item of service"):
        call_command(
            "calculate_service", service_year="QOF2627", claims=tmp_path / "x.csv", out=tmp_path / "o.csv"
        )
