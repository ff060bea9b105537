from datetime import datetime

from django.conf import settings
from django.http import HttpResponse
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

from .alipay_client import GATEWAY, alipay
from .models import Order
from .serializers import PaySerializer


def first_error(errors):
    """The first message of a serializer's errors, as the tutorial's frontend shows one."""
    value = errors
    while isinstance(value, (dict, list)):
        value = next(iter(value.values())) if isinstance(value, dict) else value[0]
    return str(value)


class PayView(APIView):
    """POST /order/pay/: the order and its goods, then a signed alipay.trade.page.pay link."""

    authentication_classes = [JWTAuthentication]
    permission_classes = [IsAuthenticated]

    def post(self, request):
        serializer = PaySerializer(data=request.data, context={"request": request})
        if not serializer.is_valid():
            return Response({"code": 0, "msg": first_error(serializer.errors)}, status=400)
        order = serializer.save()
        query = alipay.api_alipay_trade_page_pay(
            subject=order.subject,
            out_trade_no=order.out_trade_no,
            total_amount=str(order.total_amount),
            return_url=settings.ALIPAY_RETURN_URL,
            notify_url=settings.ALIPAY_NOTIFY_URL,
        )
        return Response({"code": 1, "msg": "ok", "data": f"{GATEWAY}?{query}"}, status=201)


class SuccessView(APIView):
    """GET: the return page's check. POST: Alipay's asynchronous notification."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        out_trade_no = request.query_params.get("out_trade_no")
        if Order.objects.filter(out_trade_no=out_trade_no, order_status=Order.PAID).exists():
            return Response({"code": 1, "msg": "支付成功"})
        return Response({"code": 0, "msg": "暂未支付"})

    def post(self, request):
        try:
            data = request.data.dict()
            signature = data.pop("sign")
            data.pop("sign_type", None)
            verified = alipay.verify(data, signature)
        except Exception:
            verified = False
        if not verified or data.get("app_id") != settings.ALIPAY_APP_ID:
            return HttpResponse("fail", content_type="text/plain", status=400)
        if data.get("trade_status") in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            try:
                pay_time = datetime.strptime(data.get("gmt_payment", ""), "%Y-%m-%d %H:%M:%S")
            except ValueError:
                pay_time = datetime.now()
            Order.objects.filter(out_trade_no=data.get("out_trade_no"), order_status=Order.UNPAID).update(
                order_status=Order.PAID, trade_no=data.get("trade_no"), pay_time=pay_time
            )
        return HttpResponse("success", content_type="text/plain")
