from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_consent_links')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Mailbox',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.OneToOneField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='mailbox', on_delete=OnDelete.CASCADE)),
                ('address', fields.CharField(max_length=254)),
                ('smtp_host', fields.CharField(max_length=300)),
                ('imap_host', fields.CharField(null=True, max_length=300)),
                ('sent_folder', fields.CharField(null=True, max_length=300)),
                ('smtp_url_secret', fields.TextField(unique=False)),
                ('imap_url_secret', fields.TextField(null=True, unique=False)),
                ('verified_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'mb_mailbox', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='SentEmail',
            name='sent_copy_filed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
