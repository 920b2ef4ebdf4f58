"""A small X Education-shaped lead file, generated (the suite never reads ../shared).

Same header as the real export, with its quirks: a trailing comma after the header and after
every row (an unnamed last column), `Select` placeholders, Yes/No flags, `google`/`Google`,
and missing numbers.
"""

import csv
import io
import random
from pathlib import Path

HEADER = [
    "Prospect ID", "Lead Number", "Lead Origin", "Lead Source", "Do Not Email", "Do Not Call", "Converted",
    "TotalVisits", "Total Time Spent on Website", "Page Views Per Visit", "Last Activity", "Country",
    "Specialization", "How did you hear about X Education", "What is your current occupation",
    "What matters most to you in choosing a course", "Search", "Magazine", "Newspaper Article",
    "X Education Forums", "Newspaper", "Digital Advertisement", "Through Recommendations",
    "Receive More Updates About Our Courses", "Tags", "Lead Quality", "Update me on Supply Chain Content",
    "Get updates on DM Content", "Lead Profile", "City", "Asymmetrique Activity Index",
    "Asymmetrique Profile Index", "Asymmetrique Activity Score", "Asymmetrique Profile Score",
    "I agree to pay the amount through cheque", "A free copy of Mastering The Interview", "Last Notable Activity",
]  # fmt: skip

ORIGINS = ["API", "Landing Page Submission", "Lead Add Form", "Lead Import"]
SOURCES = ["Google", "google", "Direct Traffic", "Olark Chat", "Organic Search", "Reference"]
FLAGS = {c for c in HEADER if c in ("Do Not Email", "Do Not Call", "Search", "Magazine", "Newspaper Article",
         "X Education Forums", "Newspaper", "Digital Advertisement", "Through Recommendations",
         "Receive More Updates About Our Courses", "Update me on Supply Chain Content", "Get updates on DM Content",
         "I agree to pay the amount through cheque", "A free copy of Mastering The Interview")}  # fmt: skip


def xeducation_row(i: int, rng: random.Random, *, converted: str | None = None) -> dict[str, str]:
    row = dict.fromkeys(HEADER, "")
    row["Prospect ID"] = f"p-{i:06d}"
    row["Lead Number"] = str(600000 + i)
    row["Lead Origin"] = rng.choice(ORIGINS)
    row["Lead Source"] = SOURCES[i % len(SOURCES)]
    row["Converted"] = converted if converted is not None else str((i % 3 == 0 and 1) or 0)
    row["TotalVisits"] = "" if i % 7 == 0 else str(rng.randint(0, 20))
    row["Total Time Spent on Website"] = str(rng.randint(0, 2000))
    row["Page Views Per Visit"] = "" if i % 7 == 0 else str(round(rng.uniform(0, 6), 2))
    row["Last Activity"] = rng.choice(["Email Opened", "SMS Sent", "Page Visited on Website"])
    row["Country"] = rng.choice(["India", "", "Singapore"])
    row["Specialization"] = rng.choice(["Select", "Finance Management", "Marketing Management", ""])
    row["How did you hear about X Education"] = rng.choice(["Select", "Online Search", "Word Of Mouth"])
    row["What is your current occupation"] = rng.choice(["Unemployed", "Student", "Working Professional"])
    row["What matters most to you in choosing a course"] = "Better Career Prospects"
    for column in FLAGS:
        row[column] = rng.choice(["No", "No", "Yes"])
    row["Tags"] = rng.choice(["Ringing", "Will revert after reading the email", ""])
    row["Lead Quality"] = rng.choice(["Low in Relevance", "Might be", ""])
    row["Lead Profile"] = rng.choice(["Select", "Potential Lead", ""])
    row["City"] = rng.choice(["Select", "Mumbai", "Thane & Outskirts"])
    row["Asymmetrique Activity Index"] = rng.choice(["01.High", "02.Medium", ""])
    row["Asymmetrique Profile Index"] = rng.choice(["01.High", "02.Medium", ""])
    row["Asymmetrique Activity Score"] = str(rng.randint(10, 18))
    row["Asymmetrique Profile Score"] = str(rng.randint(11, 20))
    row["Last Notable Activity"] = rng.choice(["Modified", "Email Opened"])
    return row


def xeducation_csv(n: int = 12, *, seed: int = 7, rows: list[dict] | None = None, delimiter: str = ",") -> str:
    """The file's text: header and rows each end with a trailing delimiter, like the real export."""
    rng = random.Random(seed)
    data = rows if rows is not None else [xeducation_row(i, rng) for i in range(1, n + 1)]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow([*HEADER, ""])
    for row in data:
        writer.writerow([*(row.get(c, "") for c in HEADER), ""])
    return out.getvalue()


def write(tmp_path: Path, text: str | bytes, name: str = "leads.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    return path


def simple_csv(rows: list[list[str]], header=("ID", "Email", "Full name", "Phone", "Won", "Score")) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


SIMPLE_MAPPING = {
    "mapping": {"external_id": "ID", "email": "Email", "name": "Full name", "phone": "Phone"},
    "outcome_column": "Won",
    "converted_values": ["yes", "won"],
    "lost_values": ["no", "lost"],
    "column_types": {"Score": "number"},
}


def x_education_profile():
    """The shipped preset (re-created: a transactional test elsewhere may have flushed the table)."""
    import importlib

    from leads.models import ImportProfile

    preset = dict(importlib.import_module("leads.migrations.0004_x_education_profile").X_EDUCATION)
    preset["column_limits"] = importlib.import_module("leads.migrations.0014_x_education_number_limits").COLUMN_LIMITS
    profile, _ = ImportProfile.objects.update_or_create(name=preset.pop("name"), defaults=preset)
    return profile


# A marketing export: campaign and deal value columns, values as real exports write them.
CHANNEL_HEADER = ("Lead ID", "Email", "Source", "utm_campaign", "Deal value", "Stage")
CHANNEL_ROWS = [
    ["c1", "", "Google", "spring", "$1,200,000.00", "Won"],
    ["c2", "", "Google", "spring", "1.200.000,00 €", "Won"],
    ["c3", "", "Fair", "autumn", "EUR 950", "Won"],
    ["c4", "", "Fair", "autumn", "", "Won"],  # converted without a value: the channel's value applies
    ["c5", "", "Google", "brand", "1200000", "Open"],  # a value on an open lead: kept, not revenue
    ["c6", "", "Google", "brand", "", "Lost"],
]
CHANNEL_MAPPING = {
    "mapping": {"external_id": "Lead ID", "email": "Email", "source": "Source", "campaign": "utm_campaign",
                "converted_value": "Deal value"},
    "outcome_column": "Stage",
    "converted_values": ["Won"],
    "lost_values": ["Lost"],
    "open_values": ["Open"],
}  # fmt: skip


def channel_csv(rows: list[list[str]] | None = None) -> str:
    return simple_csv(CHANNEL_ROWS if rows is None else rows, header=CHANNEL_HEADER)
