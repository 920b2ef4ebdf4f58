"""Model facts that CRM pages show, registered by scoring so that `leads` never imports it.

`{% load scoring_tags %}` then `{% queue_banner %}`: the cold-start notice for the top of the work queue.
"""

from django import template
from django.utils.html import format_html

from scoring import selectors

register = template.Library()


@register.simple_tag
def queue_banner() -> str:
    banner = selectors.queue_banner()
    return format_html('<p class="banner" role="status">{}</p>', banner) if banner else ""
