/* aquaembed dashboard: small browser-side helpers (no network access, no globals but these). */
(function () {
    'use strict';
    // Typing a threshold into a slider's box and pressing Enter applies it: the slider commits
    // its box on blur only, so Enter blurs the box (and gives the focus back for the next edit).
    document.addEventListener('keydown', function (e) {
        var t = e.target;
        if (e.key === 'Enter' && t && t.matches && t.matches('.ae-slider input[type=number]')) {
            t.blur();
            window.setTimeout(function () { t.focus(); t.select(); }, 0);
        }
    }, true);

    // AG Grid comparators: an undefined ratio ("—") sorts last in either direction.
    var dagfuncs = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});
    dagfuncs.nullsLast = function (a, b, nodeA, nodeB, isDescending) {
        var na = a === null || a === undefined, nb = b === null || b === undefined;
        if (na && nb) { return 0; }
        if (na) { return isDescending ? -1 : 1; }
        if (nb) { return isDescending ? 1 : -1; }
        return a < b ? -1 : (a > b ? 1 : 0);
    };
})();
