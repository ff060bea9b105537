from django.urls import path

from .views import PayView, SuccessView

urlpatterns = [
    path("pay/", PayView.as_view()),
    path("success/", SuccessView.as_view()),
]
