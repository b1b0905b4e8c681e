from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models import CsvEncoding, ExportFormat, ExportStatus, UTCDatetimeField
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_conversations')]

    initial = False

    operations = [
        ops.CreateModel(
            name='HistoryExport',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('domain', fields.ForeignKeyField('models.Domain', source_field='domain_id', db_constraint=True, to_field='id', related_name='exports', on_delete=OnDelete.CASCADE)),
                ('requested_by', fields.ForeignKeyField('models.Member', source_field='requested_by_id', db_constraint=True, to_field='id', related_name='exports', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(default=ExportStatus.PENDING, description='PENDING: PENDING\nRUNNING: RUNNING\nREADY: READY\nFAILED: FAILED\nCANCELED: CANCELED\nEXPIRED: EXPIRED', enum_type=ExportStatus, max_length=10)),
                ('active_domain_id', fields.IntField(null=True, unique=True)),
                ('format', fields.CharEnumField(description='CSV: CSV\nJSONL: JSONL', enum_type=ExportFormat, max_length=8)),
                ('csv_encoding', fields.CharEnumField(description='UTF8_BOM: UTF8_BOM\nUTF8: UTF8\nCP932: CP932', enum_type=CsvEncoding, max_length=10)),
                ('account_ids', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('since', UTCDatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('until', UTCDatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('watermark_id', fields.BigIntField()),
                ('progress', fields.FloatField(default=0)),
                ('total_rows', fields.IntField(null=True)),
                ('row_count', fields.IntField(null=True)),
                ('sha256', fields.CharField(null=True, max_length=64)),
                ('file_name', fields.CharField(null=True, max_length=100)),
                ('error', fields.TextField(null=True, unique=False)),
                ('attempt', fields.IntField(default=0)),
                ('lease_until', UTCDatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', UTCDatetimeField(auto_now=False, auto_now_add=True)),
                ('started_at', UTCDatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', UTCDatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expires_at', UTCDatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'history_exports', 'app': 'models', 'indexes': [Index(fields=['domain_id', 'id']), Index(fields=['status', 'lease_until'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddIndex(
            model_name='Contact',
            index=Index(fields=['account_id', 'id']),
        ),
        ops.AddField(
            model_name='WindowAccount',
            name='reset_attempt',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='WindowAccount',
            name='reset_lease_until',
            field=UTCDatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='WindowAccount',
            name='reset_started_at',
            field=UTCDatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
