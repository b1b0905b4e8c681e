from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models import AutoReplyKind, BotOrigin, Channel, SenderType, UTCDatetimeField
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Bot',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('models.WindowAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='bots', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=100)),
                ('origin', fields.CharEnumField(description='CX_TALK: CX_TALK\nDEV_CONSOLE: DEV_CONSOLE', enum_type=BotOrigin, max_length=12)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'bots', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Contact',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('models.WindowAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='contacts', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharEnumField(description='LINE_WORKS: LINE_WORKS\nLINE: LINE\nEMAIL: EMAIL', enum_type=Channel, max_length=12)),
                ('external_id', fields.CharField(max_length=200)),
                ('name', fields.CharField(max_length=100)),
                ('greeted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'contacts', 'app': 'models', 'unique_together': (('account', 'channel', 'external_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Holiday',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('models.WindowAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='holidays', on_delete=OnDelete.CASCADE)),
                ('start_date', fields.DateField()),
                ('end_date', fields.DateField()),
                ('name', fields.CharField(null=True, max_length=100)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'holidays', 'app': 'models', 'indexes': [Index(fields=['account_id', 'start_date'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TalkRoom',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('models.WindowAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='talk_rooms', on_delete=OnDelete.CASCADE)),
                ('contact', fields.ForeignKeyField('models.Contact', source_field='contact_id', db_constraint=True, to_field='id', related_name='talk_rooms', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'talk_rooms', 'app': 'models', 'indexes': [Index(fields=['account_id', 'id']), Index(fields=['contact_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Message',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('domain', fields.ForeignKeyField('models.Domain', source_field='domain_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('account', fields.ForeignKeyField('models.WindowAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('contact', fields.ForeignKeyField('models.Contact', source_field='contact_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('room', fields.ForeignKeyField('models.TalkRoom', source_field='room_id', null=True, db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.SET_NULL)),
                ('sender_type', fields.CharEnumField(description='CUSTOMER: CUSTOMER\nRESPONDER: RESPONDER\nBOT: BOT\nAUTO_REPLY: AUTO_REPLY', enum_type=SenderType, max_length=12)),
                ('sender_name', fields.CharField(max_length=100)),
                ('auto_reply_kind', fields.CharEnumField(null=True, description='GREETING: GREETING\nOUT_OF_HOURS: OUT_OF_HOURS\nHOLIDAY: HOLIDAY', enum_type=AutoReplyKind, max_length=12)),
                ('content', fields.TextField(unique=False)),
                ('sent_at', UTCDatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'messages', 'app': 'models', 'indexes': [Index(fields=['domain_id', 'sent_at', 'id']), Index(fields=['account_id', 'id']), Index(fields=['room_id', 'auto_reply_kind', 'sent_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TalkRoomParticipant',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('room', fields.ForeignKeyField('models.TalkRoom', source_field='room_id', db_constraint=True, to_field='id', related_name='participants', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='talk_rooms', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'talk_room_participants', 'app': 'models', 'unique_together': (('room', 'member'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='WindowAccount',
            name='business_hours',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='WindowAccount',
            name='greeting_message',
            field=fields.TextField(default='', db_default='', unique=False),
        ),
        ops.AddField(
            model_name='WindowAccount',
            name='holiday_message',
            field=fields.TextField(default='', db_default='', unique=False),
        ),
        ops.AddField(
            model_name='WindowAccount',
            name='last_message_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='WindowAccount',
            name='out_of_hours_message',
            field=fields.TextField(default='', db_default='', unique=False),
        ),
    ]
