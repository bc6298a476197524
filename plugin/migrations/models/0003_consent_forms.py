"""Consent forms are used once (nonce table); consent records say who spoke and why."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_send_retry')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ConsentFormUse',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('nonce', fields.CharField(unique=True, max_length=32)),
                ('used_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'mb_consent_form_use', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='ConsentRecord',
            name='by_recipient',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='ConsentRecord',
            name='note',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='ConsentSuppression',
            name='by_recipient',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        # Which earlier refusals were the recipient's own cannot be told from a keyed hash:
        # every existing one is taken as the recipient's (protective; an admin with proof
        # can still record a grant over it).
        ops.RunSQL("UPDATE mb_consent_suppression SET by_recipient = TRUE", reverse_sql="SELECT 1"),
        # Records made on the consent page so far were the recipient's own choices.
        ops.RunSQL(
            "UPDATE mb_consent_record SET by_recipient = TRUE"
            " WHERE recorded_by_id IS NULL AND source = 'consent page'",
            reverse_sql="SELECT 1",
        ),
    ]
