from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models import UTCDatetimeField
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_jobs')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('domain_id', fields.IntField(null=True)),
                ('actor_kind', fields.CharField(max_length=16)),
                ('actor_member_id', fields.IntField(null=True)),
                ('action', fields.CharField(max_length=64)),
                ('target_type', fields.CharField(null=True, max_length=32)),
                ('target_id', fields.BigIntField(null=True)),
                ('changes', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('outcome', fields.CharField(max_length=64)),
                ('client_address', fields.CharField(null=True, max_length=64)),
                ('created_at', UTCDatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'audit_events', 'app': 'models', 'indexes': [Index(fields=['domain_id', 'id']), Index(fields=['domain_id', 'action', 'id']), Index(fields=['domain_id', 'target_type', 'target_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
