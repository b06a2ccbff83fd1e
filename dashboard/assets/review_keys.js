// Keyboard shortcuts of the label-review page: a accept, r reject, s skip, arrows prev / next.
// Only while the review page is shown and the focus is not in a text field or dropdown.
document.addEventListener("keydown", function (ev) {
  var page = document.getElementById("page-review");
  if (!page || page.style.display === "none" || ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
  var t = ev.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable)) { return; }
  var ids = { a: "rev-accept", r: "rev-reject", s: "rev-skip", ArrowLeft: "rev-prev", ArrowRight: "rev-next" };
  var id = ids[ev.key];
  if (!id) { return; }
  var button = document.getElementById(id);
  if (button) { ev.preventDefault(); button.click(); }
});
