"""Signs Alipay TRADE_SUCCESS notification bodies with python-alipay-sdk, for check.sh.

Reads `out_trade_no total_amount` lines (orders.sh's output) on standard input and prints one
application/x-www-form-urlencoded body a line, signed RSA2 with the TEST-ONLY Alipay private key
(the private half of alipay_public.pem), with the fields of services/notify-receiver's
notify_bodies example. --tamper changes total_amount after signing.
"""
import argparse
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from alipay import AliPay

KEYS = Path(__file__).resolve().parents[3] / "crates/alipay/tests/vectors/keys"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app-id", default="2021000000000001")
    parser.add_argument("--tamper", action="store_true")
    options = parser.parse_args()
    # Alipay's side: its private key signs; the public half is only needed by the constructor.
    signer = AliPay(
        appid=options.app_id,
        app_private_key_string=(KEYS / "alipay_private_pkcs8.pem").read_text(),
        alipay_public_key_string=(KEYS / "alipay_public.pem").read_text(),
        sign_type="RSA2",
    )
    now = datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")  # Beijing
    for index, line in enumerate(sys.stdin):
        if not line.strip():
            continue
        out_trade_no, amount = line.split()
        fields = {
            "gmt_create": now, "charset": "utf-8", "gmt_payment": now, "notify_time": now,
            "subject": "Python 入门 (+1 more)", "buyer_id": "2088102177846875",
            "invoice_amount": amount, "version": "1.0", "notify_id": uuid.uuid4().hex,
            "fund_bill_list": f'[{{"amount":"{amount}","fundChannel":"ALIPAYACCOUNT"}}]',
            "notify_type": "trade_status_sync", "out_trade_no": out_trade_no,
            "total_amount": amount, "trade_status": "TRADE_SUCCESS",
            "trade_no": f"{now[:10].replace('-', '')}22{index:018d}", "auth_app_id": options.app_id,
            "receipt_amount": amount, "point_amount": "0.00", "app_id": options.app_id,
            "buyer_pay_amount": amount, "seller_id": "2088102177846880",
        }
        # sign_data: the sorted `k=v&…` string signed, answered as a form body with `sign`.
        body = signer.sign_data(dict(fields)) + "&sign_type=RSA2"
        if options.tamper:
            body = body.replace(f"&total_amount={amount}&", "&total_amount=0.01&")
        print(body)


if __name__ == "__main__":
    main()
