"""The benchmark's fixed rows: user 1 (whose JWT is in bench.env) and courses 1 and 2."""
from decimal import Decimal

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.core.management.color import no_style
from django.db import connection, transaction

from order.models import Course

# BASELINE_TOTAL in bench.env is their sum: 88.88.
COURSES = {1: ("Python 入门", Decimal("49.90")), 2: ("Django 进阶", Decimal("38.98"))}


class Command(BaseCommand):
    help = "Creates (or resets) the bench user 1 and courses 1 and 2."

    def handle(self, *args, **options):
        with transaction.atomic():
            user, _ = User.objects.update_or_create(id=1, defaults={"username": "bench", "is_active": True})
            user.set_unusable_password()
            user.save()
            for course_id, (name, price) in COURSES.items():
                Course.objects.update_or_create(id=course_id, defaults={"name": name, "price": price})
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), [User, Course]):
                    cursor.execute(sql)
        self.stdout.write(
            f"user 1 ({user.username}); courses "
            + ", ".join(f"{i} at {price}" for i, (_, price) in COURSES.items())
        )
