"""Is a model equally good for everyone? Accuracy per group, and template sentences that
differ in one word only (a name, a pronoun, a nationality) for a sentiment model."""

from __future__ import annotations

import numpy as np

#: Sentences with one slot; every word in them is neutral about the film.
TEMPLATES = (
    "{who} watched this film last night.",
    "This movie was made by {who}.",
    "I saw it with {who} and we talked about it afterwards.",
    "{who} plays the lead role in this film.",
    "The film follows {who} through one summer.",
    "My friend {who} recommended this movie to me.",
)

#: What fills the slot, by group. Names from Bertrand and Mullainathan (2004), whose CVs
#: with these names got different call-back rates; nationalities as a noun phrase.
GROUPS = {
    "names: Emily, Anne, Jill": ("Emily", "Anne", "Jill"),
    "names: Lakisha, Latoya, Tamika": ("Lakisha", "Latoya", "Tamika"),
    "names: Greg, Brendan, Todd": ("Greg", "Brendan", "Todd"),
    "names: Jamal, Darnell, Tyrone": ("Jamal", "Darnell", "Tyrone"),
    "a man / a woman": ("a man", "a woman"),
    "nationality": ("an American", "a Mexican", "a Nigerian", "a Chinese man",
                    "an Indian woman", "a German"),
}


def filled(templates=TEMPLATES, groups=None) -> dict[str, list[str]]:
    """``{word: [each template filled with it]}`` for every word of every group."""
    groups = GROUPS if groups is None else groups
    words = [w for members in groups.values() for w in members]
    for template in templates:
        if "{who}" not in template:
            raise ValueError(f"template without a {{who}} slot: {template!r}")
    return {w: [t.format(who=w[0].upper() + w[1:] if t.startswith("{who}") else w)
                for t in templates] for w in words}


def template_scores(predict, templates=TEMPLATES, groups=None) -> dict:
    """Score every filled template with ``predict`` (a list of strings -> probability of
    "positive" per string). Returns ``{"words": {word: mean score}, "groups": {group: mean
    score}, "spread": largest minus smallest word mean}``: for neutral sentences a fair
    model's spread is near 0."""
    groups = GROUPS if groups is None else groups
    sentences = filled(templates, groups)
    words = {}
    for word, batch in sentences.items():
        scores = np.asarray(predict(batch), dtype="float64")
        if scores.shape not in ((len(batch),), (len(batch), 1)):
            raise ValueError(f"predict must return one probability per sentence, shape "
                             f"({len(batch)},); it returned shape {scores.shape} (for a "
                             "softmax over two classes, take the 'positive' column)")
        words[word] = float(scores.mean())
    means = {g: float(np.mean([words[w] for w in members])) for g, members in groups.items()}
    return {"words": words, "groups": means,
            "spread": max(words.values()) - min(words.values())}


def gap(accuracies: dict[str, float]) -> dict:
    """The best and worst group of ``{group: accuracy}`` and the gap between them."""
    if not accuracies:
        raise ValueError("no groups to compare")
    best, worst = max(accuracies, key=accuracies.get), min(accuracies, key=accuracies.get)
    return {"best": best, "worst": worst, "gap": accuracies[best] - accuracies[worst]}
