from django.urls import path

from webmail_settings import addressbook_views as views

urlpatterns = [
    path("me/address-book/", views.owner_address_book, name="owner_address_book"),
    path("me/address-book.vcf", views.owner_address_book_vcard, name="owner_address_book_vcard"),
    path(
        "organizations/<int:organization_id>/address-book/",
        views.organization_address_book,
        name="organization_address_book",
    ),
    path(
        "organizations/<int:organization_id>/address-book.vcf",
        views.organization_address_book_vcard,
        name="organization_address_book_vcard",
    ),
]
