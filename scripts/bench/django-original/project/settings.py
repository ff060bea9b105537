"""Settings of the Django original stand-in: a benchmark baseline only, never a deployment.

Deployed as in the measurement: PostgreSQL with persistent connections, DEBUG off, quiet logs,
gunicorn with 5 sync workers (run.sh). Every secret here is a TEST-ONLY value.
"""
import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent          # scripts/bench/django-original
REPO_DIR = BASE_DIR.parents[2]

# TEST-ONLY: also signs the JWT in bench.env; changing it means regenerating that token
# (python manage.py token).
SECRET_KEY = "django-original-bench-only-not-a-secret-0123456789abcdef"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "corsheaders",
    "rest_framework",
    "order",
]

# `startproject`'s defaults, plus CORS for the separate Vue frontend, as in the tutorial.
MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
CORS_ALLOW_ALL_ORIGINS = True

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"
TEMPLATES = []

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("DJANGO_ORIGINAL_DB", "django_original"),
        "USER": os.environ.get("PGUSER", "postgres"),
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        "CONN_MAX_AGE": 600,  # persistent connections, one per gunicorn worker
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "zh-hans"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = False

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}

# The tutorial's frontend sends `Authorization: jwt <token>` (djangorestframework-jwt's scheme).
SIMPLE_JWT = {
    "AUTH_HEADER_TYPES": ("jwt", "JWT", "Bearer"),
    "ACCESS_TOKEN_LIFETIME": timedelta(days=1),
}

# Alipay (python-alipay-sdk), with the repository's TEST-ONLY keys.
ALIPAY_KEYS_DIR = Path(os.environ.get("ALIPAY_KEYS_DIR", REPO_DIR / "crates/alipay/tests/vectors/keys"))
ALIPAY_APP_ID = "2021000000000001"
ALIPAY_APP_PRIVATE_KEY = (ALIPAY_KEYS_DIR / "app_private_pkcs1.pem").read_text()
ALIPAY_PUBLIC_KEY = (ALIPAY_KEYS_DIR / "alipay_public.pem").read_text()
ALIPAY_GATEWAY = "http://127.0.0.1:8090/gateway.do"
ALIPAY_NOTIFY_URL = "http://127.0.0.1:8000/order/success/"
ALIPAY_RETURN_URL = "http://127.0.0.1:8080/pay/success"

# Quiet: warnings and errors only (not django.request's line per 4xx), to gunicorn's error log.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"django.request": {"level": "ERROR"}},
}
