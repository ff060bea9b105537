from django.conf import settings
from django.db import models


class Course(models.Model):
    name = models.CharField(max_length=128)
    price = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        db_table = "luffy_course"


class Order(models.Model):
    UNPAID, PAID, CANCELLED, TIMED_OUT = 0, 1, 2, 3
    STATUS_CHOICES = ((UNPAID, "未支付"), (PAID, "已支付"), (CANCELLED, "已取消"), (TIMED_OUT, "超时取消"))
    PAY_CHOICES = ((1, "支付宝"),)

    subject = models.CharField(max_length=150)
    total_amount = models.DecimalField(max_digits=10, decimal_places=2)
    out_trade_no = models.CharField(max_length=64, unique=True)
    trade_no = models.CharField(max_length=64, null=True)
    order_status = models.SmallIntegerField(choices=STATUS_CHOICES, default=UNPAID)
    pay_type = models.SmallIntegerField(choices=PAY_CHOICES, default=1)
    pay_time = models.DateTimeField(null=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False)
    created_time = models.DateTimeField(auto_now_add=True)
    updated_time = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "luffy_order"


class OrderGoods(models.Model):
    order = models.ForeignKey(Order, related_name="goods", on_delete=models.CASCADE, db_constraint=False)
    course = models.ForeignKey(Course, on_delete=models.CASCADE, db_constraint=False)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    real_price = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        db_table = "luffy_order_goods"
