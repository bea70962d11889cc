/* placeholder: module in progress */
