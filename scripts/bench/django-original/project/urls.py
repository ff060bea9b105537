from django.urls import include, path

urlpatterns = [
    path("order/", include("order.urls")),
]
