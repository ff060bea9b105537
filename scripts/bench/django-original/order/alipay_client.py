"""The tutorial's libs/iPay: one python-alipay-sdk client per process."""
from alipay import AliPay, AliPayConfig
from django.conf import settings

alipay = AliPay(
    appid=settings.ALIPAY_APP_ID,
    app_notify_url=None,
    app_private_key_string=settings.ALIPAY_APP_PRIVATE_KEY,
    alipay_public_key_string=settings.ALIPAY_PUBLIC_KEY,
    sign_type="RSA2",
    debug=False,
    verbose=False,
    config=AliPayConfig(timeout=15),
)
GATEWAY = settings.ALIPAY_GATEWAY
