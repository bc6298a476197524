"""Shared messages' consent links: stopping a copy's tracking, and the daily limit of personal-link mails."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_consent_forms')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ConsentLinkMail',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('address_hash', fields.CharField(max_length=64)),
                ('day', fields.IntField()),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'mb_consent_link_mail', 'app': 'models', 'unique_together': (('address_hash', 'day'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='EmailCopy',
            name='tracking_stopped_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
