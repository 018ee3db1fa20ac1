/*
 * TEST-ONLY: acts as an annotator on the rendered template, after its own script ran:
 * selects text with the DOM Selection API, presses label buttons, adds a relation, picks a
 * document class, submits, and leaves what crowd-form would post in <body data-answer>.
 */
(function () {
  var doc = document.getElementById("mlops-document");
  function select(substring) {
    var full = doc.textContent, at = full.indexOf(substring);
    if (at < 0) { throw new Error("not in the document: " + substring); }
    var range = document.createRange(), walker = document.createTreeWalker(doc, NodeFilter.SHOW_TEXT), seen = 0, node;
    var start = null, end = null;
    while ((node = walker.nextNode())) {
      var len = node.textContent.length;
      if (start === null && at < seen + len) { start = [node, at - seen]; }
      if (end === null && at + substring.length <= seen + len) { end = [node, at + substring.length - seen]; }
      seen += len;
    }
    range.setStart(start[0], start[1]);
    range.setEnd(end[0], end[1]);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  function press(label) { document.querySelector('#entity-labels [data-label="' + label + '"]').click(); }
  var steps = JSON.parse(document.getElementById("drive-steps").textContent);
  steps.entities.forEach(function (step) { select(step[0]); press(step[1]); });
  if (steps.relation) {
    document.getElementById("relation-head").value = String(steps.relation[0]);
    document.getElementById("relation-tail").value = String(steps.relation[1]);
    document.getElementById("relation-type").value = steps.relation[2];
    document.getElementById("relation-add").click();
  }
  if (steps.documentClass) {
    document.querySelector('#document-class-group crowd-radio-button[value="' + steps.documentClass + '"]').click();
  }
  var posted = document.querySelector("crowd-form").submitForTest();
  document.body.setAttribute("data-answer", JSON.stringify(posted));
})();
