"""Read-only reference lists: job statuses, job categories, technicians, the API user.

Their contents are the simulator's own (an account's lists are configured in the
ServiceFusion web app); the status names are the stock ones the real product ships.
"""

from __future__ import annotations

from typing import Any

# (name, code, category): "closed" statuses end a job; `closed_at` is set for them.
_STATUSES = (
    ("Unscheduled", "UNS", "open"),
    ("Scheduled", "SCH", "open"),
    ("Dispatched", "DIS", "open"),
    ("Delayed", "DEL", "open"),
    ("On The Way", "OTW", "open"),
    ("On Site", "ONS", "open"),
    ("Started", "STA", "open"),
    ("Paused", "PAU", "open"),
    ("Resumed", "RES", "open"),
    ("Partially Completed", "PCO", "open"),
    ("Awaiting Parts", "AWP", "open"),
    ("Completed", "COM", "closed"),
    ("Cancelled", "CAN", "closed"),
)
JOB_STATUSES: list[dict[str, Any]] = [
    {"id": 1001 + i, "code": code, "name": name, "is_custom": False, "category": category}
    for i, (name, code, category) in enumerate(_STATUSES)
]
STATUS_NAMES = [status["name"] for status in JOB_STATUSES]
CLOSED_STATUSES = frozenset(s["name"] for s in JOB_STATUSES if s["category"] == "closed")
DEFAULT_STATUS = "Unscheduled"

_CATEGORIES = (
    "General Maintenance", "Plumbing", "Electrical", "HVAC", "Appliance Repair",
    "Make Ready", "Pest Control", "Landscaping", "Roofing", "Inspection",
)
JOB_CATEGORIES: list[dict[str, Any]] = [
    {"id": 2001 + i, "name": name} for i, name in enumerate(_CATEGORIES)
]
CATEGORY_NAMES = [category["name"] for category in JOB_CATEGORIES]

_TECHS = (
    ("Maria", "Lopez", "maria.lopez@example.com", "555-201-0001", "Maintenance"),
    ("James", "Carter", "james.carter@example.com", "555-201-0002", "Plumbing"),
    ("Aisha", "Khan", "aisha.khan@example.com", "555-201-0003", "HVAC"),
    ("Tom", "Becker", "tom.becker@example.com", "555-201-0004", "Electrical"),
)
TECHS: list[dict[str, Any]] = [
    {
        "id": 3001 + i, "first_name": first, "last_name": last,
        "nickname_on_workorder": f"{first} {last[0]}.", "nickname_on_dispatch": first,
        "color_code": None, "email": email, "phone_1": phone, "phone_2": None,
        "department": department, "title": "Technician", "is_field_worker": True,
        "is_sales_rep": False, "created_at": "2024-01-02T09:00:00+00:00",
        "updated_at": "2024-01-02T09:00:00+00:00",
    }
    for i, (first, last, email, phone, department) in enumerate(_TECHS)
]

ME: dict[str, Any] = {
    "id": 9001, "first_name": "Sandbox", "last_name": "Integration",
    "email": "integration@example.com",
}
