#!/usr/bin/env python3
"""Derives what the OCSF export must satisfy from an OCSF schema checkout (github.com/ocsf/ocsf-schema,
at a release tag): per event class, its uid, its attributes and the required ones, with inheritance;
per object, its attributes, required ones and at_least_one constraints; per class, the profiles it
may apply (an event lists those it applies in metadata.profiles) and the attributes each adds.
Usage: derive.py CHECKOUT VERSION

ocsf-1.8.0.json was made with:
  git clone https://github.com/ocsf/ocsf-schema && git -C ocsf-schema checkout 1.8.0
  python3 derive.py ocsf-schema 1.8.0 > ocsf-1.8.0.json
ExportTests checks every event `sshaudit export --format ocsf` writes against it."""
import json, os, sys

root, version = sys.argv[1], sys.argv[2]

def load(rel):
    with open(os.path.join(root, rel)) as f:
        return json.load(f)

def find(kind, name):
    for dirpath, _, files in os.walk(os.path.join(root, kind)):
        if name + ".json" in files:
            return os.path.relpath(os.path.join(dirpath, name + ".json"), root)
    raise SystemExit(f"no {kind} named {name}")

def merged(kind, name):
    d = load(find(kind, name))
    attrs, constraints = {}, {}
    parent = d.get("extends")
    if parent and parent != name:
        pa, pc, _ = merged(kind, parent)
        attrs.update(pa); constraints.update(pc)
    for k, v in d.get("attributes", {}).items():
        if k == "$include" or not isinstance(v, dict):
            continue
        attrs[k] = v.get("requirement", attrs.get(k, "optional"))
    constraints.update(d.get("constraints", {}))
    if parent and parent != name and "category" not in d:
        d = dict(d, category=merged(kind, parent)[2].get("category"))
    return attrs, constraints, d

def profiles(name):
    """The profiles a class may apply (its own and its ancestors'), each with the attributes it adds."""
    d = load(find("events", name))
    names = list(d.get("profiles", []))
    parent = d.get("extends")
    if parent and parent != name:
        names += [p for p in profiles(parent) if p not in names]
    return names

categories = load("categories.json")["attributes"]
out = {"source": "https://github.com/ocsf/ocsf-schema", "version": version, "classes": {}, "objects": {}}
for cls in ["authentication", "ssh_activity", "process_activity", "file_activity", "network_activity"]:
    attrs, _, d = merged("events", cls)
    cat = categories[d["category"]]["uid"]
    uid = cat * 1000 + d["uid"]
    out["classes"][str(uid)] = {"name": d["caption"], "category_uid": cat,
                                "activity_ids": sorted(int(k) for k in d["attributes"]["activity_id"]["enum"]),
                                "required": sorted(k for k, v in attrs.items() if v == "required"),
                                "attributes": sorted(attrs),
                                "profiles": {p: sorted(load(f"profiles/{p}.json").get("attributes", {}))
                                             for p in sorted(profiles(cls))}}
for obj in ["metadata", "product", "user", "actor", "device", "process", "network_endpoint", "session", "file",
            "network_traffic", "service", "network_connection_info"]:
    attrs, constraints, _ = merged("objects", obj)
    out["objects"][obj] = {"required": sorted(k for k, v in attrs.items() if v == "required"),
                           "at_least_one": sorted(constraints.get("at_least_one", [])),
                           "attributes": sorted(attrs)}
json.dump(out, sys.stdout, indent=1, sort_keys=True)
print()
