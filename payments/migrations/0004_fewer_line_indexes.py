"""Payment lines keep the indexes a query needs: status alone and the pattern-ops twins of status and reference
go (the (status, batch, due_date) index serves status; the unique constraint serves reference), and batch and
declaration are indexed only where set, so a newly written line maintains 6 indexes rather than 11."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("declarations", "0001_declarations_revisions_freezes"),
        ("payments", "0003_service_components"),
    ]

    operations = [
        migrations.AlterField(
            model_name="paymentline",
            name="batch",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="lines",
                to="payments.paymentbatch",
            ),
        ),
        migrations.AlterField(
            model_name="paymentline",
            name="declaration",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="The declaration whose financial approval this line pays or adjusts",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="payment_lines",
                to="declarations.declaration",
            ),
        ),
        migrations.AlterField(
            model_name="paymentline",
            name="reference",
            field=models.CharField(help_text="Unique across every batch ever sent", max_length=60),
        ),
        migrations.AlterField(
            model_name="paymentline",
            name="status",
            field=models.CharField(
                choices=[
                    ("awaiting_approval", "Awaiting financial approval"),
                    ("approved", "Approved, awaiting release"),
                    ("released", "Released to the payment agency"),
                    ("paid", "Paid"),
                    ("rejected", "Rejected by the payment agency"),
                    ("reissued", "Rejected and reissued"),
                    ("written_off", "Written off"),
                    ("settled", "Nothing to pay"),
                ],
                max_length=20,
            ),
        ),
        migrations.AddIndex(
            model_name="paymentline",
            index=models.Index(
                condition=models.Q(("batch__isnull", False)), fields=["batch"], name="payment_line_batch"
            ),
        ),
        migrations.AddIndex(
            model_name="paymentline",
            index=models.Index(
                condition=models.Q(("declaration__isnull", False)),
                fields=["declaration"],
                name="payment_line_declaration",
            ),
        ),
        migrations.AddConstraint(
            model_name="paymentline",
            constraint=models.UniqueConstraint(fields=("reference",), name="payment_line_reference_unique"),
        ),
    ]
