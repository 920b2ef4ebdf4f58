"""Each role's main pages on a 390 px phone in Debian chromium: the page never scrolls sideways,
axe-core finds no violation of any impact (headings descend one level at a time), numbers in tables,
number ranges ("31", en dash, "46") and words in text are never broken across lines, a table too wide for the
phone scrolls inside itself and can take the keyboard focus, the top menu leaves the screen to the
page, and a field's help text never touches its input.

tests/test_browser_pages.py checks the admin's pages this way; here every role walks its own pages,
including the ones only reached from another page (notification settings, a model, the model
comparison, a lead's edit form)."""

import pytest

from leads.models import Lead
from scoring.models import ModelVersion
from tests.conftest import HEADING_JUMPS, PHONE, axe_violations, browser_login, screenshot, sideways_overflow
from tests.reports.conftest import contract_metrics, report_data  # noqa: F401 (a fixture)
from tests.test_browser_pages import crm, main_pages  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Text of each td.num on more than one line: a number the table squeezed until it broke ("0.6|66").
BROKEN_NUMBERS = """() => Array.from(document.querySelectorAll("main td.num")).filter(cell => {
  const range = document.createRange(); range.selectNodeContents(cell);
  return new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top))).size > 1;
}).map(cell => cell.textContent.trim())"""

# Words of running text split across two lines ("Upl|oad"): a box squeezed below its words' width.
# (Not names, addresses or ids, which may break; not pre, code or form controls.)
BROKEN_WORDS = r"""() => {
  const out = [];
  const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode()) && out.length < 10) {
    const el = node.parentElement;
    if (!el || el.closest("pre, code, svg, script, style, textarea, select, option, [hidden]")) continue;
    const re = /\S+/g;
    let m;
    while ((m = re.exec(node.textContent))) {
      const word = m[0];
      if (word.length < 4 || word.length > 24 || /[@\/:._-]/.test(word)) continue;
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + word.length);
      const tops = new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top)));
      if (tops.size > 1) { out.push(word + " in " + el.tagName.toLowerCase() + "." + el.className); break; }
    }
  }
  return out;
}"""

# A number range with an en dash ("(31" + U+2013 + "46)") in running text on more than one line: broken at its dash.
BROKEN_RANGES = r"""() => {
  const out = [];
  const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const re = /\(?[\d.,%]+\s*\u2013\s*[\d.,%]+\)?/g;
    let m;
    while ((m = re.exec(node.textContent))) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top)));
      if (tops.size > 1) out.push(m[0]);
    }
  }
  return out;
}"""

# Help texts (<small> after a field's input) closer than 2 px to the input above them.
TOUCHING_HELP = """() => Array.from(
  document.querySelectorAll("main .field :is(input, select, textarea) + small")
).filter(small => small.getBoundingClientRect().top - small.previousElementSibling.getBoundingClientRect().bottom < 2
).map(small => small.textContent.trim())"""

UNFOCUSABLE_SCROLLERS = """() => Array.from(document.querySelectorAll("main table"))
  .filter(t => t.scrollWidth > t.clientWidth + 1 && t.tabIndex < 0).map(t => t.id || t.className)"""


def pages_for(role: str, crm) -> list[str]:  # noqa: F811
    lead = crm["lead"]
    own = ["/", f"/leads/{lead.pk}/", "/leads/new/", f"/leads/{lead.pk}/edit/", "/me/", "/notifications/",
           "/notifications/settings/"]  # fmt: skip
    if role == "rep":
        return own
    second = ModelVersion.objects.create(status="candidate", algorithm="logreg", metrics=contract_metrics())
    manager = [*main_pages(crm), f"/models/compare/?a={crm['version'].pk}&b={second.pk}", "/notifications/settings/",
               f"/leads/{lead.pk}/edit/", f"/reports/model/?version={crm['version'].pk}"]  # fmt: skip
    if role == "manager":
        admin_only = ("/imports/", "/users/", "/audit/", "/reports/channels/spend/", "/models/retrain/")
        return [p for p in manager if not p.startswith(admin_only) and p != "/no/such/page/"]
    return [*manager, f"/users/{crm['lead'].owner_id}/", "/routing/"]


@pytest.mark.parametrize("role", ["rep", "manager", "admin"])
def test_every_page_of_every_role_fits_a_phone_and_passes_axe(browser, live_server, role, crm, request):  # noqa: F811
    crm["version"].params = {"candidate": "logistic_regression_rfe15_with_a_long_name"}  # a wide version picker
    crm["version"].save()
    user = {"rep": crm["lead"].owner, "manager": request.getfixturevalue("manager")}.get(role)
    user = user or request.getfixturevalue("admin_user")
    if role == "rep":
        Lead.objects.filter(pk=crm["lead"].pk).update(owner=user)
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15000)
    problems = {}
    try:
        browser_login(page, user.username)
        for path in pages_for(role, crm):
            page.goto(path)
            page.wait_for_load_state("networkidle")
            found = {
                "overflow px": max(sideways_overflow(page), 0),
                "axe": axe_violations(page),
                "heading jumps": page.evaluate(HEADING_JUMPS),
                "broken ranges": page.evaluate(BROKEN_RANGES),
                "help text touching its input": page.evaluate(TOUCHING_HELP),
                # The top menu (brand, links, account) is at most two short rows; the page starts below it.
                "menu taller than 130 px": max(page.locator("header.topbar").bounding_box()["height"] - 130, 0),
                "broken numbers": page.evaluate(BROKEN_NUMBERS),
                "broken words": page.evaluate(BROKEN_WORDS),
                "unfocusable scrolling tables": page.evaluate(UNFOCUSABLE_SCROLLERS),
                "h1 count != 1": page.locator("h1").count() != 1,
            }
            found = {k: v for k, v in found.items() if v}
            if found:
                problems[path] = found
                screenshot(page, f"phone-{role}-{path.strip('/').replace('/', '-') or 'queue'}")
    finally:
        context.close()
    assert problems == {}


FOCUSED_AND_ROW = """(() => {
  const link = document.activeElement.getBoundingClientRect();
  const row = document.activeElement.closest("ul").getBoundingClientRect();
  return [[link.left, link.right], [row.left, row.right]];
})()"""


@pytest.mark.parametrize("viewport", [PHONE, {"width": 1280, "height": 900}], ids=["phone", "desktop"])
def test_every_menu_link_is_reached_by_the_keyboard_and_shown_when_focused(browser, live_server, admin_user, viewport):
    """The phone's menu row scrolls sideways: each link is still in the tab order, and scrolled into view
    when it takes the focus; on a desktop the menu is one row."""
    context = browser.new_context(base_url=live_server.url, viewport=viewport)
    page = context.new_page()
    try:
        browser_login(page, admin_user.username)
        links = page.locator("header.topbar .nav-links a")
        names = links.all_inner_texts()
        assert {"Work queue", "Reports", "Users", "Audit", "API"} <= set(names)
        page.focus("header.topbar .brand")
        for name in names:
            page.keyboard.press("Tab")
            focused = page.evaluate("document.activeElement.textContent.trim()")
            assert focused == name
            link, row = page.evaluate(FOCUSED_AND_ROW)
            assert row[0] - 1 <= link[0] and link[1] <= row[1] + 1 <= viewport["width"] + 1, (
                f"{name} is out of view: {link}"
            )
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "notifications-badge"
        if viewport["width"] > 700:
            assert page.locator("header.topbar").bounding_box()["height"] < 100
    finally:
        context.close()
