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

    // The first view comes with the layout: Dash asks for it at `_dash-layout` without the
    // page's query, so the query goes along (`?page=<query>`) and the server fills in the
    // embedding map of the URL's state (dashboard/__init__.py, _serve_first_map). Only that
    // one same-origin request is changed; every other fetch goes through untouched.
    var fetchOriginal = window.fetch;
    window.fetch = function (input, init) {
        if (typeof input === 'string' && /(^|\/)_dash-layout$/.test(input)) {
            input = input + '?page=' + encodeURIComponent(window.location.search);
        }
        return fetchOriginal.apply(this, arguments.length > 1 ? [input, init] : [input]);
    };

    // dcc.Graph asks Plotly to fit each graph to its container right after its first plot, and
    // Plotly then redraws every point even when the graph already fits: on a first view that drew
    // the embedding map's 100k points twice. When the graph has its container's size (within
    // Plotly's own 1 px tolerance) there is nothing to fit, so the request resolves at once.
    function fitOnlyWhenNeeded(plotly) {
        var plots = plotly && plotly.Plots;
        if (!plots || !plots.resize || plots.resize.aeFits) { return; }
        var resize = plots.resize;
        plots.resize = function (gd) {
            var full = gd && gd._fullLayout;
            if (full && gd.layout && gd.layout.autosize !== false && !gd.layout.width && !gd.layout.height) {
                var style = window.getComputedStyle(gd);
                var w = parseFloat(style.width), h = parseFloat(style.height);
                if (w && h && Math.abs(w - full.width) <= 1 && Math.abs(h - full.height) <= 1) { return Promise.resolve(gd); }
            }
            return resize.apply(this, arguments);
        };
        plots.resize.aeFits = true;
    }
    // plotly.js runs as soon as it is here, not when the first graph asks for it. The index
    // preloads the bundle; dcc.Graph would run it only once the layout has arrived, putting its
    // ~0.2 s of compiling and running between the first view's figure and its drawing. Started
    // here, it runs while the page's other scripts load and the layout is on its way. Until it
    // has run, window.Plotly is the promise of it, which dcc.Graph waits for (it loads plotly.js
    // itself only when window.Plotly is unset), so the bundle is fetched and run once.
    var loaded, pending = null;
    if (window.Plotly) {
        loaded = window.Plotly;
        fitOnlyWhenNeeded(loaded);
    } else {
        Object.defineProperty(window, 'Plotly', {
            configurable: true, enumerable: true,
            get: function () { return loaded || pending || undefined; },
            set: function (v) { loaded = v; fitOnlyWhenNeeded(v); }  // the bundle assigns window.Plotly
        });
        var url = window._dashPlotlyJSURL;  // pinned by the index (dashboard/__init__.py)
        if (url) {
            pending = new Promise(function (resolve, reject) {
                var s = document.createElement('script');
                s.src = url;
                s.async = true;
                s.onload = function () { pending = null; resolve(); };
                s.onerror = function (e) { pending = null; reject(e); };
                document.head.appendChild(s);
            });
        }
    }

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
