from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from kernel.accounts.models import User


@admin.register(User)
class GatehouseUserAdmin(UserAdmin):
    list_display = ("username", "email", "email_verified", "is_active", "is_staff")
    search_fields = ("username", "email")
    fieldsets = UserAdmin.fieldsets + (("Verification", {"fields": ("email_verified",)}),)
