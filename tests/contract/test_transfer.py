"""``/export`` through the real clients: the settings arrive privately as a JSON file (the
group reads only that they went), and ``/import`` of that file's text brings them back."""

from __future__ import annotations

import json

from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")
BOB = Person(2, "Bob", "bob")


async def test_export_arrives_privately_as_a_file_and_imports_back(platform: Platform) -> None:
    await platform.start(members=(ANN, BOB), admins=(ANN,), persona={"locale": "en"})
    await platform.say(ANN, "/setrules Be kind.\nNo ads.")
    await platform.say(ANN, "/save rules Read the pins, {name}.")
    export = await platform.say(ANN, "/export")
    ann = platform.user_id(ANN)
    [(to, filename, _caption, data)] = export.uploads
    assert to == ann and filename.startswith("settings-") and filename.endswith(".json")
    document = json.loads(data.decode("utf-8"))
    assert document["rules"] == ["Be kind.", "No ads."]
    assert document["notes"] == [
        {"name": "rules", "text": "Read the pins, {name}.", "admin_only": False}
    ]
    in_group = [t for t, who in zip(export.texts, export.to, strict=True) if not who]
    assert in_group and "Read the pins" not in "".join(in_group)
    # A member is no operator: nothing is sent.
    assert not (await platform.say(BOB, "/export")).uploads
    await platform.say(ANN, "/setrules Only this.")
    await platform.say(ANN, "/clear rules")
    compact = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    [done] = (await platform.say(ANN, "/import " + compact)).texts
    assert "2 rules" in done and "1 note" in done
    [got] = (await platform.say(BOB, "/get rules")).texts
    assert got == "Read the pins, Bob."


async def test_export_to_a_member_who_never_opened_a_private_chat(platform: Platform) -> None:
    await platform.start(members=(ANN,), admins=(ANN,), persona={"locale": "en"})
    platform.refuse_private(ANN)
    seen = await platform.say(ANN, "/export")
    assert not seen.uploads
    assert seen.texts and all(who is None for who in seen.to)
