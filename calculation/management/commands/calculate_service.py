"""Calculate one achievement date of a service paid by item or by capitation, from the database's rates
and PCN memberships and the counts or populations given as CSV files; writes the payment lines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from engine import InputError
from engine.capitation import network_contract_month, population_to_decimal
from engine.item_of_service import calculate_items
from engine.periods import month_of_year
from engine.rounding import format_hundredths
from participation.models import ServiceYear
from participation.selectors import NotThatKind, capitation_rates_frame, fees_frame

from ...services import memberships_frame


def _csv(path: Path | None, columns: list[str]) -> pd.DataFrame | None:
    if path is None:
        return None
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise CommandError(f"{path}: missing column(s) {', '.join(missing)}")
    return frame


class Command(BaseCommand):
    help = (
        "Calculate an item-of-service year's claims (--claims, with --registers where a component is capped) "
        "or a capitation year's month (--populations and --payees, with --beds for the Care Home Premium) "
        "and write the payment lines to --out. Invalid input writes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--service-year", required=True, help="e.g. LDHC2526 or NCD2425")
        parser.add_argument("--achievement-date", type=dt.date.fromisoformat, help="capitation: YYYY-MM-DD")
        parser.add_argument("--claims", type=Path, help="ORG_CODE,ACH_DATE,COMPONENT,COUNT")
        parser.add_argument("--registers", type=Path, help="ORG_CODE,ACH_DATE,REGISTER")
        parser.add_argument("--populations", type=Path, help="ORG_CODE,REGISTERED,WEIGHTED,ADJUSTED (1 Jan)")
        parser.add_argument("--payees", type=Path, help="PCN_CODE,PAYEE_CODE,START_DATE,END_DATE")
        parser.add_argument("--beds", type=Path, help="PCN_CODE,BEDS (this month)")
        parser.add_argument("--out", type=Path, required=True)

    def handle(self, *args, **options) -> None:
        year = ServiceYear.objects.filter(code=options["service_year"]).first()
        if year is None:
            raise CommandError(f"no service year {options['service_year']}")
        try:
            if year.payment_kind == ServiceYear.PaymentKind.CAPITATION:
                lines, flagged = self._capitation(year, options)
            else:
                lines, flagged = self._items(year, options)
        except NotThatKind as error:
            raise CommandError(str(error)) from error
        except InputError as error:
            raise CommandError(f"invalid input, nothing written:\n{error.describe()}") from error
        except (ValueError, OSError) as error:
            raise CommandError(f"invalid input, nothing written: {error}") from error
        for rate in flagged:
            self.stderr.write(f"rate {rate.component} £{rate.rate} is {rate.confidence}: {rate.source}")
        lines.to_csv(options["out"], index=False)
        total = format_hundredths([int(lines["AMOUNT_PENCE"].sum())])[0] if len(lines) else "0.00"
        self.stdout.write(f"{len(lines)} lines, £{total}, written to {options['out']}")

    def _items(self, year: ServiceYear, options):
        fees, flagged = fees_frame(year)
        claims = _csv(options["claims"], ["ORG_CODE", "ACH_DATE", "COMPONENT", "COUNT"])
        if claims is None:
            raise CommandError(f"{year.code} is paid by item of service: give --claims")
        frame = pd.DataFrame(
            {
                "line": range(2, len(claims) + 2),
                "practice_code": claims["ORG_CODE"],
                "achievement_date": pd.to_datetime(claims["ACH_DATE"], format="%Y%m%d"),
                "component": claims["COMPONENT"],
                "count": pd.to_numeric(claims["COUNT"], errors="coerce"),
            }
        )
        registers = _csv(options["registers"], ["ORG_CODE", "ACH_DATE", "REGISTER"])
        if registers is not None:
            registers = pd.DataFrame(
                {
                    "practice_code": registers["ORG_CODE"],
                    "achievement_date": pd.to_datetime(registers["ACH_DATE"], format="%Y%m%d"),
                    "register": registers["REGISTER"].astype("int64"),
                }
            )
        lines = calculate_items(frame, fees, registers, source=str(options["claims"]))
        out = pd.DataFrame(
            {
                "ORG_CODE": lines["practice_code"],
                "ACH_DATE": lines["achievement_date"].dt.strftime("%Y%m%d"),
                "COMPONENT": lines["component"],
                "COUNT": lines["count"],
                "FEE": format_hundredths(lines["fee_pence"].to_numpy()),
                "AMOUNT": format_hundredths(lines["amount_pence"].to_numpy()),
                "AMOUNT_PENCE": lines["amount_pence"],
            }
        )
        return out, flagged

    def _capitation(self, year: ServiceYear, options):
        on = options["achievement_date"]
        populations = _csv(options["populations"], ["ORG_CODE", "REGISTERED", "WEIGHTED", "ADJUSTED"])
        payees = _csv(options["payees"], ["PCN_CODE", "PAYEE_CODE", "START_DATE", "END_DATE"])
        if on is None or populations is None or payees is None:
            raise CommandError(
                f"{year.code} is paid by capitation: give --achievement-date, --populations, --payees"
            )
        rates, flagged = capitation_rates_frame(year)
        beds = _csv(options["beds"], ["PCN_CODE", "BEDS"])
        lines = network_contract_month(
            practices=pd.DataFrame(
                {
                    "practice_code": populations["ORG_CODE"],
                    "registered": populations["REGISTERED"],
                    "weighted": populations["WEIGHTED"],
                    "adjusted": populations["ADJUSTED"],
                }
            ),
            memberships=memberships_frame(on),
            payees=pd.DataFrame(
                {
                    "pcn_code": payees["PCN_CODE"],
                    "payee_code": payees["PAYEE_CODE"],
                    "start_date": pd.to_datetime(payees["START_DATE"]),
                    "end_date": pd.to_datetime(payees["END_DATE"].mask(payees["END_DATE"] == "")),
                }
            ),
            rates=rates,
            as_at=on,
            month=month_of_year(year.financial_year, on),
            care_home_beds=None
            if beds is None
            else pd.DataFrame({"pcn_code": beds["PCN_CODE"], "beds": beds["BEDS"]}),
        )
        out = pd.DataFrame(
            {
                "PAYEE_CODE": lines["payee_code"],
                "PCN_CODE": lines["pcn_code"],
                "PRACTICE_CODE": lines["practice_code"],
                "COMPONENT": lines["component"],
                "POPULATION": population_to_decimal(lines["population_e4"]),
                "ANNUAL": format_hundredths(lines["annual_pence"].to_numpy()),
                "AMOUNT": format_hundredths(lines["amount_pence"].to_numpy()),
                "AMOUNT_PENCE": lines["amount_pence"],
            }
        )
        return out, flagged
