def test_seen_keys_reports_every_repeat_with_the_row_it_was_first_seen_on():
    """The compact key registry behaves as a dict of key -> first row, across and within batches."""
    import random

    from leads.importing.validation import SeenKeys

    rng = random.Random(5)
    for _ in range(200):
        keys = [rng.randint(0, 40) for _ in range(rng.randint(1, 90))]
        seen, first_rows, row, start = SeenKeys(), {}, 2, 0
        while start < len(keys):
            chunk = keys[start : start + rng.randint(1, 12)]
            numbers = list(range(row, row + len(chunk)))
            expected = {}
            for index, (key, number) in enumerate(zip(chunk, numbers, strict=True)):
                first = first_rows.setdefault(key, number)
                if first != number:
                    expected[index] = first
            assert seen.add([hash(("id", str(k))) for k in chunk], numbers) == expected
            start, row = start + len(chunk), row + len(chunk)
