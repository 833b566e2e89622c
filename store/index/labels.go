package index

import "database/sql"

// LabelStat is one Gmail label of an account and how many archived
// messages carry it.
type LabelStat struct {
	Label    string // raw: \Inbox, \Sent, Work
	Messages int
}

// Labels lists an account's labels, by label.
func (ix *Index) Labels(account string) ([]LabelStat, error) {
	rows, err := ix.db.Query(`SELECT label, COUNT(*) FROM labels WHERE account = ? GROUP BY label ORDER BY label`, account)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []LabelStat
	for rows.Next() {
		var s LabelStat
		if err := rows.Scan(&s.Label, &s.Messages); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// LabelMessages lists the messages of an account that carry a label, as
// Messages lists a folder: newest first, a page at a time (walking the
// index, so the first page of a label of 100,000 messages is as quick as
// any). It also returns how many there are.
func (ix *Index) LabelMessages(account, label string, offset, limit int) ([]Row, int, error) {
	if limit <= 0 {
		limit = -1
	}
	var n int
	if err := ix.db.QueryRow(`SELECT COUNT(*) FROM labels WHERE account = ? AND label = ?`, account, label).Scan(&n); err != nil && err != sql.ErrNoRows {
		return nil, 0, err
	}
	rows, err := ix.db.Query(rowCols+` JOIN labels l ON l.message = m.id WHERE l.account = ? AND l.label = ?
		ORDER BY l.date DESC, l.message DESC LIMIT ? OFFSET ?`, account, label, limit, offset)
	if err != nil {
		return nil, 0, err
	}
	out, err := scanRows(rows)
	return out, n, err
}
