from tortoise import migrations
from tortoise.migrations import operations as ops
from models import AccountStatus, Role, TokenKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Domain',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'domains', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Member',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('domain', fields.ForeignKeyField('models.Domain', source_field='domain_id', db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=100)),
                ('email', fields.CharField(max_length=254)),
                ('email_key', fields.CharField(max_length=254)),
                ('role', fields.CharEnumField(default=Role.MEMBER, description='ADMIN: ADMIN\nMEMBER: MEMBER', enum_type=Role, max_length=10)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'members', 'app': 'models', 'unique_together': (('domain', 'email_key'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('kind', fields.CharEnumField(description='MEMBER: MEMBER\nOPERATOR: OPERATOR', enum_type=TokenKind, max_length=10)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', null=True, db_constraint=True, to_field='id', related_name='tokens', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'api_tokens', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Product',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('domain', fields.ForeignKeyField('models.Domain', source_field='domain_id', db_constraint=True, to_field='id', related_name='products', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=100)),
                ('responder_limit', fields.IntField()),
                ('quantity', fields.IntField()),
                ('in_use', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'products', 'app': 'models', 'unique_together': (('domain', 'name'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WindowAccount',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('domain', fields.ForeignKeyField('models.Domain', source_field='domain_id', db_constraint=True, to_field='id', related_name='accounts', on_delete=OnDelete.CASCADE)),
                ('product', fields.ForeignKeyField('models.Product', source_field='product_id', db_constraint=True, to_field='id', related_name='accounts', on_delete=OnDelete.RESTRICT)),
                ('name', fields.CharField(max_length=20)),
                ('name_key', fields.CharField(null=True, max_length=255)),
                ('handle', fields.CharField(max_length=20)),
                ('handle_key', fields.CharField(null=True, unique=True, max_length=20)),
                ('description', fields.CharField(null=True, max_length=100)),
                ('image_name', fields.CharField(null=True, max_length=64)),
                ('invite_token', fields.CharField(unique=True, max_length=64)),
                ('timezone', fields.CharField(default='Asia/Tokyo', max_length=64)),
                ('started_on', fields.DateField()),
                ('status', fields.CharEnumField(default=AccountStatus.ACTIVE, description='ACTIVE: ACTIVE\nRESETTING: RESETTING\nRESET: RESET', enum_type=AccountStatus, max_length=10)),
                ('responder_count', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'window_accounts', 'app': 'models', 'unique_together': (('domain', 'name_key'),), 'indexes': [Index(fields=['domain_id', 'status', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Responder',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('models.WindowAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='responders', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='responder_of', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'responders', 'app': 'models', 'unique_together': (('account', 'member'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
