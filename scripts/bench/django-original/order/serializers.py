import uuid

from django.db import transaction
from rest_framework import serializers

from .models import Course, Order, OrderGoods


class PaySerializer(serializers.ModelSerializer):
    # DRF looks each id up (one query per course): a missing course is a 400.
    course_list = serializers.PrimaryKeyRelatedField(
        queryset=Course.objects.all(), many=True, write_only=True, allow_empty=False
    )

    class Meta:
        model = Order
        fields = ["subject", "total_amount", "pay_type", "course_list"]

    def validate(self, attrs):
        total = sum(course.price for course in attrs["course_list"])
        if total != attrs["total_amount"]:
            raise serializers.ValidationError("价格不合法")
        attrs["out_trade_no"] = uuid.uuid4().hex
        attrs["user"] = self.context["request"].user
        return attrs

    def create(self, validated_data):
        courses = validated_data.pop("course_list")
        with transaction.atomic():
            order = Order.objects.create(**validated_data)
            for course in courses:
                OrderGoods.objects.create(order=order, course=course, price=course.price, real_price=course.price)
        return order
