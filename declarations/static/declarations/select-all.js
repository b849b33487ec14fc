// "Select all" for a table of checkboxes: ticks or clears every selectable row shown. Without JavaScript the
// rows are ticked one by one, or the "all matching" buttons act on the whole filtered list server-side.
for (const box of document.querySelectorAll('[data-select-all]')) {
  const form = box.closest('form');
  box.closest('[data-select-all-group]').hidden = false;
  box.addEventListener('change', () => {
    for (const row of form.querySelectorAll('input[data-selectable]')) row.checked = box.checked;
  });
}
