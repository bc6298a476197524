from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_mailbox')]

    initial = False

    operations = [
        ops.AddField(
            model_name='EmailCopy',
            name='handed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        # Copies mid-send during the upgrade were claimed by code that set no mark: count
        # them as handed (the cautious side: never resent), as before this migration.
        ops.RunSQL(
            "UPDATE \"mb_email_copy\" SET \"handed_at\"=\"claimed_at\" "
            "WHERE \"status\"='SENDING'",
            reverse_sql=ops.RunSQL.noop,
        ),
    ]
