import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from consent.models import ConsentState
from plugin.notifications.models import NotificationKind
from plugin.sending.models import EmailStatus
from plugin.tracking.models import EventKind, EventSourceField


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='ConsentSuppression',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('address_hash', fields.CharField(unique=True, max_length=64)),
                ('status', fields.CharEnumField(default=ConsentState.WITHDRAWN, description='GRANTED: GRANTED\nDENIED: DENIED\nWITHDRAWN: WITHDRAWN', enum_type=ConsentState, max_length=9)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'mb_consent_suppression', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('email', fields.CharField(unique=True, max_length=254)),
                ('name', fields.CharField(null=True, max_length=200)),
                ('is_admin', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'mb_user', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='tokens', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('prefix', fields.CharField(max_length=12)),
                ('label', fields.CharField(null=True, max_length=100)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_seen_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'mb_api_token', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ConsentRecord',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('recipient', fields.CharField(max_length=254)),
                ('status', fields.CharEnumField(description='GRANTED: GRANTED\nDENIED: DENIED\nWITHDRAWN: WITHDRAWN', enum_type=ConsentState, max_length=9)),
                ('recorded_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('source', fields.CharField(max_length=100)),
                ('text_version', fields.CharField(max_length=40)),
                ('recorded_by', fields.ForeignKeyField('models.User', source_field='recorded_by_id', null=True, db_constraint=True, to_field='id', related_name='consent_records', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'mb_consent_record', 'app': 'models', 'indexes': [Index(fields=['recipient', 'recorded_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SentEmail',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='sent_emails', on_delete=OnDelete.CASCADE)),
                ('subject', fields.TextField(unique=False)),
                ('to_addresses', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('cc_addresses', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('bcc_addresses', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('search_text', fields.TextField(default='', unique=False)),
                ('html', fields.TextField(null=True, unique=False)),
                ('text', fields.TextField(null=True, unique=False)),
                ('status', fields.CharEnumField(default=EmailStatus.QUEUED, description='QUEUED: QUEUED\nSENDING: SENDING\nSENT: SENT\nFAILED: FAILED', enum_type=EmailStatus, max_length=8)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('message_id', fields.CharField(null=True, max_length=255)),
                ('error', fields.TextField(null=True, unique=False)),
                ('track_opens', fields.BooleanField(default=False)),
                ('track_links', fields.BooleanField(default=False)),
                ('track_per_recipient', fields.BooleanField(default=False)),
                ('decision_reasons', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('idempotency_key', fields.CharField(null=True, max_length=200)),
                ('open_count', fields.IntField(default=0)),
                ('first_opened_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_opened_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('click_count', fields.IntField(default=0)),
                ('first_clicked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_clicked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'mb_sent_email', 'app': 'models', 'unique_together': (('user', 'idempotency_key'),), 'indexes': [Index(fields=['user_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EmailCopy',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('email', fields.ForeignKeyField('models.SentEmail', source_field='email_id', db_constraint=True, to_field='id', related_name='copies', on_delete=OnDelete.CASCADE)),
                ('public_id', fields.CharField(unique=True, max_length=24)),
                ('recipient', fields.CharField(null=True, db_index=True, max_length=254)),
                ('envelope_to', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('track_opens', fields.BooleanField(default=False)),
                ('track_links', fields.BooleanField(default=False)),
                ('status', fields.CharEnumField(default=EmailStatus.QUEUED, description='QUEUED: QUEUED\nSENDING: SENDING\nSENT: SENT\nFAILED: FAILED', enum_type=EmailStatus, max_length=8)),
                ('message_id', fields.CharField(null=True, max_length=255)),
                ('attempts', fields.IntField(default=0)),
                ('claimed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('error', fields.TextField(null=True, unique=False)),
                ('accepted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'mb_email_copy', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TrackedLink',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('email', fields.ForeignKeyField('models.SentEmail', source_field='email_id', db_constraint=True, to_field='id', related_name='links', on_delete=OnDelete.CASCADE)),
                ('position', fields.IntField()),
                ('url', fields.TextField(unique=False)),
                ('click_count', fields.IntField(default=0)),
                ('first_clicked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_clicked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'mb_tracked_link', 'app': 'models', 'unique_together': (('email', 'position'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('email', fields.ForeignKeyField('models.SentEmail', source_field='email_id', db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('link', fields.ForeignKeyField('models.TrackedLink', source_field='link_id', null=True, db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='EMAIL_OPENED: EMAIL_OPENED\nLINK_CLICKED: LINK_CLICKED', enum_type=NotificationKind, max_length=12)),
                ('url', fields.TextField(null=True, unique=False)),
                ('recipient', fields.CharField(null=True, db_index=True, max_length=254)),
                ('count', fields.IntField(default=1)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'mb_notification', 'app': 'models', 'indexes': [Index(fields=['user_id', 'read_at']), Index(fields=['user_id', 'updated_at']), Index(fields=['email_id', 'kind', 'read_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TrackingEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event_id', fields.UUIDField(unique=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='tracking_events', on_delete=OnDelete.CASCADE)),
                ('email', fields.ForeignKeyField('models.SentEmail', source_field='email_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('copy', fields.ForeignKeyField('models.EmailCopy', source_field='copy_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('link', fields.ForeignKeyField('models.TrackedLink', source_field='link_id', null=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='OPEN: OPEN\nCLICK: CLICK', enum_type=EventKind, max_length=5)),
                ('source', fields.CharEnumField(description='HUMAN: HUMAN\nMACHINE: MACHINE\nBOT: BOT\nSELF: SELF', enum_type=EventSourceField, max_length=7)),
                ('rule', fields.CharField(max_length=40)),
                ('duplicate', fields.BooleanField(default=False)),
                ('honeypot', fields.BooleanField(default=False)),
                ('recipient', fields.CharField(null=True, db_index=True, max_length=254)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('method', fields.CharField(max_length=8)),
                ('user_agent', fields.CharField(default='', max_length=512)),
                ('client_hash', fields.CharField(max_length=64)),
                ('client_prefix', fields.CharField(default='', max_length=50)),
                ('notified', fields.BooleanField(default=False)),
            ],
            options={'table': 'mb_tracking_event', 'app': 'models', 'indexes': [Index(fields=['email_id', 'occurred_at']), Index(fields=['copy_id', 'client_hash']), Index(fields=['user_id', 'occurred_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TrackingPreference',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.OneToOneField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='tracking_preference', on_delete=OnDelete.CASCADE)),
                ('open_tracking_enabled', fields.BooleanField(default=True)),
                ('link_tracking_enabled', fields.BooleanField(default=True)),
                ('notifications_enabled', fields.BooleanField(default=True)),
                ('default_track_opens', fields.BooleanField(default=True)),
                ('default_track_links', fields.BooleanField(default=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'mb_tracking_preference', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
