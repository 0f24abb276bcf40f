from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("artifacts", "0004_upload_sha256_part"),
    ]

    operations = [
        migrations.AddField(
            model_name="blob",
            name="rechecked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
