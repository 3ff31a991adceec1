// The account list's batch form: one box ticks every row of the page, and a line says how
// many accounts an action will touch. The form works without this file (tick rows, or the
// "all matching" box, then press an action); the page box only comes alive here.
"use strict";

document.querySelectorAll("form[data-batch]").forEach((form) => {
  const rows = Array.from(form.querySelectorAll("input[name=selected]"));
  const pageBox = form.querySelector("[data-select-page]");
  const allBox = form.querySelector("[data-batch-all]");
  const count = form.querySelector("[data-batch-count]");
  const buttons = form.querySelectorAll("button[name=action]");
  const matching = Number(form.dataset.matching || 0);
  if (!count) return; // a read-only member: no actions

  const update = () => {
    const ticked = rows.filter((row) => row.checked).length;
    const everything = Boolean(allBox && allBox.checked);
    const selected = everything ? matching : ticked;
    if (pageBox) {
      pageBox.checked = rows.length > 0 && ticked === rows.length;
      pageBox.indeterminate = ticked > 0 && ticked < rows.length;
    }
    if (selected === 0) count.textContent = "Tick accounts, then choose an action.";
    else if (everything) count.textContent = `All ${selected} matching accounts selected`;
    else count.textContent = `${selected} selected`;
    buttons.forEach((button) => { button.disabled = selected === 0; });
  };

  if (pageBox) {
    pageBox.disabled = false;
    pageBox.addEventListener("change", () => {
      rows.forEach((row) => { row.checked = pageBox.checked; });
      if (!pageBox.checked && allBox) allBox.checked = false;
      update();
    });
  }
  rows.forEach((row) => row.addEventListener("change", () => {
    // Unticking one row means "not everything" any more.
    if (!row.checked && allBox) allBox.checked = false;
    update();
  }));
  if (allBox) {
    allBox.addEventListener("change", () => {
      if (allBox.checked) rows.forEach((row) => { row.checked = true; });
      update();
    });
  }
  update();
});
